import type { ServerConfig } from '../../config/index.js';

/**
 * Where the pool's servers come from: the config's static list, a DNS name re-resolved every
 * interval, or Docker containers. A source only produces complete snapshots; the proxy swaps
 * its pool to each snapshot atomically (servers it already knew keep their live state).
 */
export interface PoolSource {
  /** Starts producing snapshots; the first may be delivered synchronously. */
  start(onSnapshot: (servers: readonly ServerConfig[]) => void): void;
  /** Stops every timer and connection the source holds. */
  stop(): void;
}
