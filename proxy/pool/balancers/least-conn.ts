import type { Balancer, BalancerOptions } from '../balancer.js';
import type { Upstream } from '../upstream.js';

/**
 * nginx's least_conn: fewest requests in flight relative to weight (compared by cross
 * multiplication, no division); ties go to smooth weighted round robin among the tied.
 */
export function pickLeastConn(
  upstreams: readonly Upstream[],
  exclude: ReadonlySet<Upstream>,
  now: number,
): Upstream | null {
  let least: Upstream | null = null;
  let first = 0;
  let tied = false;
  for (let i = 0; i < upstreams.length; i++) {
    const upstream = upstreams[i]!;
    if (exclude.has(upstream) || !upstream.available(now)) continue;
    if (least === null || upstream.inFlight * least.weight < least.inFlight * upstream.weight) {
      least = upstream;
      first = i;
      tied = false;
    } else if (upstream.inFlight * least.weight === least.inFlight * upstream.weight) {
      tied = true;
    }
  }
  if (least === null || !tied) return least;

  let best: Upstream | null = null;
  let total = 0;
  for (let i = first; i < upstreams.length; i++) {
    const upstream = upstreams[i]!;
    if (exclude.has(upstream) || !upstream.available(now)) continue;
    if (upstream.inFlight * least.weight !== least.inFlight * upstream.weight) continue;
    upstream.currentWeight += upstream.weight;
    total += upstream.weight;
    if (best === null || upstream.currentWeight > best.currentWeight) best = upstream;
  }
  best!.currentWeight -= total;
  return best;
}

export function createLeastConnBalancer(options: BalancerOptions = {}): Balancer {
  const { now = Date.now } = options;
  return {
    name: 'least_conn',
    pick: function pickLeastConnUpstream(pool, _clientIp, exclude) {
      const at = now();
      // Backups only when no primary is left (nginx `backup`).
      return pickLeastConn(pool.primary, exclude, at) ?? pickLeastConn(pool.backup, exclude, at);
    },
  };
}
