import type { Balancer, BalancerOptions } from '../balancer.js';
import type { Pool } from '../pool.js';
import type { Upstream } from '../upstream.js';

/**
 * nginx's smooth weighted round robin: every candidate gains its weight, the highest is picked
 * and pays back the total. Weights 5,1,1 give a a b a c a a — spread out, not a burst of five.
 */
export function pickSmoothWeighted(
  upstreams: readonly Upstream[],
  exclude: ReadonlySet<Upstream>,
  now: number,
): Upstream | null {
  let best: Upstream | null = null;
  let total = 0;
  for (let i = 0; i < upstreams.length; i++) {
    const upstream = upstreams[i]!;
    if (exclude.has(upstream) || !upstream.available(now)) continue;
    upstream.currentWeight += upstream.weight;
    total += upstream.weight;
    if (best === null || upstream.currentWeight > best.currentWeight) best = upstream;
  }
  if (best !== null) best.currentWeight -= total;
  return best;
}

/** Primaries first; backups only when no primary is left (nginx `backup`). */
export function pickRoundRobin(pool: Pool, exclude: ReadonlySet<Upstream>, now: number): Upstream | null {
  return pickSmoothWeighted(pool.primary, exclude, now) ?? pickSmoothWeighted(pool.backup, exclude, now);
}

export function createRoundRobinBalancer(options: BalancerOptions = {}): Balancer {
  const { now = Date.now } = options;
  return {
    name: 'round_robin',
    pick: function pickRoundRobinUpstream(pool, _clientIp, exclude) {
      return pickRoundRobin(pool, exclude, now());
    },
  };
}
