import type { Pool } from './pool.js';
import type { Upstream } from './upstream.js';

/**
 * The last resort when no server of the pool is available (all marked down by passive or active
 * health): try them anyway, least loaded first, skipping the draining ones and those the
 * request already tried. nginx does the same ("all servers are down: mark them live again for a
 * quick recovery"); Envoy calls it panic routing. It matters in a rolling restart: each worker is
 * held out for fail_timeout after refusing once, and the next one restarts before that ends.
 */
export function pickDespiteHealth(pool: Pool, exclude: ReadonlySet<Upstream>): Upstream | null {
  let best: Upstream | null = null;
  for (const upstream of pool.upstreams) {
    if (upstream.draining || exclude.has(upstream)) continue;
    if (!best || upstream.inFlight / upstream.weight < best.inFlight / best.weight) best = upstream;
  }
  return best;
}
