import type { Balancer, BalancerOptions } from '../balancer.js';
import type { Upstream } from '../upstream.js';
import { pickRoundRobin } from './round-robin.js';

/** nginx gives up on random draws after this many and falls back to round robin. */
const MAX_DRAWS = 20;

/**
 * nginx's `random two least_conn`: two different available servers drawn at random in
 * proportion to their weights, and of those the one with fewer requests in flight per weight.
 * On a tie the first draw wins, where nginx takes the second: the second draw is never the first
 * server, so at equal load nginx's rule sends more to the lighter servers (3:1 weights give 1:3
 * on two idle servers); the first draw alone is in proportion to weight.
 */
export function createRandomTwoBalancer(options: BalancerOptions = {}): Balancer {
  const { now = Date.now, random = Math.random } = options;

  return {
    name: 'random',
    pick: function pickRandomTwo(pool, _clientIp, exclude) {
      const at = now();
      const upstreams = pool.primary;
      if (upstreams.length < 2) return pickRoundRobin(pool, exclude, at);
      let first: Upstream | null = null;
      for (let draws = 1; draws <= MAX_DRAWS; draws++) {
        const upstream = drawWeighted(upstreams, pool.primaryWeight, random());
        if (upstream === first || exclude.has(upstream) || !upstream.available(at)) continue;
        if (first === null) {
          first = upstream;
          continue;
        }
        return upstream.inFlight * first.weight < first.inFlight * upstream.weight ? upstream : first;
      }
      return pickRoundRobin(pool, exclude, at);
    },
  };
}

/** The upstream whose slice of [0, total) holds `fraction * total`. */
function drawWeighted(upstreams: readonly Upstream[], total: number, fraction: number): Upstream {
  let x = Math.floor(fraction * total);
  for (let i = 0; i < upstreams.length; i++) {
    const upstream = upstreams[i]!;
    if (x < upstream.weight) return upstream;
    x -= upstream.weight;
  }
  return upstreams[upstreams.length - 1]!;
}
