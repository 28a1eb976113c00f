import type { Balancer, BalancerOptions } from '../balancer.js';
import { ipHashBytes } from './ip-bytes.js';
import { pickRoundRobin } from './round-robin.js';

/** nginx re-hashes past an unavailable server this many times, then falls back to round robin. */
const MAX_REHASH = 20;

/**
 * nginx's ip_hash: clients of one /24 (or one IPv6 address) stick to one server for as long as
 * it is available; when it is not, the hash is stirred again (deterministically, so they then
 * stick to the same stand-in). Same hash function and constants as nginx, so both fronts send a
 * client to the same position in the server list.
 */
export function createIpHashBalancer(options: BalancerOptions = {}): Balancer {
  const { now = Date.now } = options;
  const bytes = new Uint8Array(16);

  return {
    name: 'ip_hash',
    pick: function pickIpHash(pool, clientIp, exclude) {
      const at = now();
      const upstreams = pool.primary;
      if (upstreams.length < 2) return pickRoundRobin(pool, exclude, at);
      const length = ipHashBytes(clientIp, bytes);
      let hash = 89;
      for (let tries = 0; tries <= MAX_REHASH; tries++) {
        for (let i = 0; i < length; i++) hash = (hash * 113 + bytes[i]!) % 6271;
        let w = hash % pool.primaryWeight;
        let p = 0;
        while (w >= upstreams[p]!.weight) {
          w -= upstreams[p]!.weight;
          p++;
        }
        const upstream = upstreams[p]!;
        if (!exclude.has(upstream) && upstream.available(at)) return upstream;
      }
      return pickRoundRobin(pool, exclude, at);
    },
  };
}
