import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { formatAddress, parseAddress } from './address.js';
import type { ConfigProblem } from './errors.js';
import { isConfigObject } from './merge.js';
import type { Address, TlsConfig } from './types.js';
import { parseDuration } from './units.js';

/** Where ACME keeps the account key and certificates when tls.acme.storage is not given. */
export const DEFAULT_ACME_STORAGE = '.gatehouse/acme';

/** A DNS name an ACME server can validate over HTTP-01 (no IP, no wildcard: those need DNS-01). */
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/**
 * The `tls:` section resolved: null (off) or a TlsConfig with absolute file paths (relative ones
 * are read from `base`, the config file's folder, so a config means the same files wherever the
 * proxy is started from). The schema has checked the types; this adds what a schema cannot:
 * the address, a source of certificates, ports that do not collide with the other listeners.
 */
export function resolveTls(
  raw: unknown,
  base: string,
  others: { listen: Address; status: Address },
  problems: ConfigProblem[],
): TlsConfig | null {
  if (raw === null || raw === undefined || !isConfigObject(raw)) return null;
  const listen = parseAddress(String(raw.listen), true);
  if (!listen) {
    problems.push({
      path: 'tls.listen',
      message: `expected an address "host:port", got ${JSON.stringify(raw.listen)}`,
    });
  } else if (listen.port !== 0) {
    for (const [key, other] of [
      ['listen', others.listen],
      ['status.listen', others.status],
    ] as const) {
      if (other.port === listen.port && other.host === listen.host)
        problems.push({ path: 'tls.listen', message: `must differ from ${key} (${formatAddress(other)})` });
    }
  }
  const pairs = Array.isArray(raw.certificates) ? (raw.certificates as Record<string, string>[]) : [];
  const certificates = pairs.map((pair) => ({
    cert: resolve(base, pair.cert!),
    key: resolve(base, pair.key!),
  }));
  const acmeRaw = isConfigObject(raw.acme) ? raw.acme : null;
  if (certificates.length === 0 && !acmeRaw) {
    problems.push({
      path: 'tls.certificates',
      message: 'give at least one {cert, key} pair, or tls.acme to obtain a certificate',
    });
  }
  const domains = acmeRaw && Array.isArray(acmeRaw.domains) ? (acmeRaw.domains as string[]) : [];
  domains.forEach((domain, i) => {
    if (isIP(domain) !== 0 || !DOMAIN.test(domain))
      problems.push({
        path: `tls.acme.domains.${i}`,
        message: `expected a DNS name that HTTP-01 can validate (no IP address, no wildcard), got ${JSON.stringify(domain)}`,
      });
  });
  const hstsMs = parseDuration(raw.hsts ?? 0) ?? 0;
  return {
    listen: listen ?? { host: '127.0.0.1', port: 0 },
    certificates,
    minVersion: (raw.min_version as TlsConfig['minVersion'] | undefined) ?? 'TLSv1.2',
    http2: (raw.http2 as boolean | undefined) ?? true,
    redirectHttp: (raw.redirect_http as boolean | undefined) ?? false,
    hsts: Math.floor(hstsMs / 1000),
    acme: acmeRaw
      ? {
          email: acmeRaw.email as string,
          directory: acmeRaw.directory as string,
          domains: domains.map((d) => d.toLowerCase()),
          storage: resolve(base, (acmeRaw.storage as string | undefined) ?? DEFAULT_ACME_STORAGE),
        }
      : null,
  };
}
