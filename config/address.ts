import { isIP } from 'node:net';
import type { Address } from './types.js';

/** "host:port", "[v6]:port" or a bare port (host defaults to 127.0.0.1); null if malformed. */
export function parseAddress(text: string, allowPortZero = false): Address | null {
  let host = '127.0.0.1';
  let portText = text;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
  } else if (text.includes(':')) {
    const at = text.lastIndexOf(':');
    host = text.slice(0, at);
    portText = text.slice(at + 1);
    if (host.includes(':') || host === '') return null;
  }
  if (!/^\d+$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535 || (port === 0 && !allowPortZero)) return null;
  return { host, port };
}

/** How an address is written back: IPv6 hosts in brackets. */
export function formatAddress({ host, port }: Address): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A CIDR such as "10.0.0.0/8" or a single address; null when malformed. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [address = '', prefixText, extra] = text.split('/');
  if (extra !== undefined) return null;
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d+$/.test(prefixText) ? Number(prefixText) : -1;
  if (prefix < 0 || prefix > max) return null;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}
