import type { BalanceName } from '../../config/index.js';
import { createIpHashBalancer } from './balancers/ip-hash.js';
import { createLeastConnBalancer } from './balancers/least-conn.js';
import { createRandomTwoBalancer } from './balancers/random-two.js';
import { createRoundRobinBalancer } from './balancers/round-robin.js';
import type { Pool } from './pool.js';
import type { Upstream } from './upstream.js';

/**
 * A balancing policy (nginx's round_robin, least_conn, ip_hash, random two least_conn). It only
 * reads `upstream.available(now)` and never changes health; it may keep its own scratch state
 * (the smooth round robin's current weights). Runs per request: no allocation, no sorting.
 */
export interface Balancer {
  readonly name: BalanceName;
  /**
   * The upstream for the next attempt of a request from `clientIp`, never one in `exclude`
   * (those this request already tried) nor an unavailable one; null when none is left.
   */
  pick(pool: Pool, clientIp: string, exclude: ReadonlySet<Upstream>): Upstream | null;
}

export interface BalancerOptions {
  /** Clock for availability (passive health time outs); tests pass their own. */
  now?: () => number;
  /** Uniform in [0, 1); `random` only. */
  random?: () => number;
}

/** For a request's first attempt: nothing tried yet. */
export const NO_EXCLUSIONS: ReadonlySet<Upstream> = new Set<Upstream>();

export function createBalancer(name: BalanceName, options: BalancerOptions = {}): Balancer {
  switch (name) {
    case 'round_robin':
      return createRoundRobinBalancer(options);
    case 'least_conn':
      return createLeastConnBalancer(options);
    case 'ip_hash':
      return createIpHashBalancer(options);
    case 'random':
      return createRandomTwoBalancer(options);
    default:
      throw new TypeError(`unknown balancing policy ${JSON.stringify(name satisfies never)}`);
  }
}
