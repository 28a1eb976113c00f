import { BlockList, isIP, isIPv4 } from 'node:net';
import { parseCidr } from '../config/index.js';

/**
 * The one place header trust is decided: which peers are trusted proxies (nginx
 * set_real_ip_from), and so whose X-Forwarded-For, X-Real-IP, X-Forwarded-Proto and
 * X-Request-Id are believed.
 */
export interface Trust {
  isTrusted(address: string): boolean;
  /**
   * The client address, realip-style (real_ip_header X-Forwarded-For, real_ip_recursive on):
   * the peer, unless it is trusted — then the right-most untrusted address of the list.
   */
  clientAddress(peer: string, forwardedFor: string | undefined): string;
}

const MAPPED = '::ffff:';

export function createTrust(cidrs: readonly string[]): Trust {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const parsed = parseCidr(cidr);
    if (!parsed) continue; // the config loader has rejected it already
    list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  const none = cidrs.length === 0;

  function isTrusted(address: string): boolean {
    if (none || !address) return false;
    // Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d.
    const plain =
      address.startsWith(MAPPED) && isIPv4(address.slice(MAPPED.length))
        ? address.slice(MAPPED.length)
        : address;
    try {
      return list.check(plain, isIPv4(plain) ? 'ipv4' : 'ipv6');
    } catch {
      return false;
    }
  }

  return {
    isTrusted,
    clientAddress(peer, forwardedFor) {
      if (!forwardedFor || !isTrusted(peer)) return peer;
      const hops = forwardedFor.split(',');
      let client = peer;
      for (let i = hops.length - 1; i >= 0; i--) {
        const hop = hops[i]!.trim();
        if (hop === '') continue;
        // nginx's realip stops at an entry that is not an address: the last one that parsed
        // (the peer itself when it is the right-most) stands.
        if (isIP(hop) === 0) return client;
        client = hop;
        if (!isTrusted(hop)) return hop;
      }
      return client;
    },
  };
}
