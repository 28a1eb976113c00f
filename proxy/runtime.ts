import type { Config } from '../config/index.js';
import { type ConnectionOptions, UpstreamConnections } from './connections.js';
import { type Balancer, createBalancer } from './pool/balancer.js';
import type { Pool } from './pool/pool.js';
import { type RetryPolicy, retryPolicy } from './retry.js';
import { createTrust, type Trust } from './trust.js';

/**
 * Everything the request path reads that a reload (SIGHUP) may change, swapped as one object so
 * a request sees either the old settings or the new ones, never a mix. The pool inside is
 * swapped on its own when a pool source delivers a new snapshot.
 */
export interface Runtime {
  readonly config: Config;
  pool: Pool;
  readonly balancer: Balancer;
  readonly connections: UpstreamConnections;
  readonly trust: Trust;
  readonly retry: RetryPolicy;
}

export function createRuntime(config: Config, pool: Pool, previous?: Runtime): Runtime {
  const connectionOptions: ConnectionOptions = {
    keepalive: config.upstream.keepalive,
    keepaliveTimeout: config.upstream.keepaliveTimeout,
    connectTimeout: config.timeouts.connect,
  };
  const kept = previous?.connections;
  const sameConnections =
    kept !== undefined &&
    (Object.keys(connectionOptions) as (keyof ConnectionOptions)[]).every(
      (key) => kept.options[key] === connectionOptions[key],
    );
  return {
    config,
    pool,
    balancer: createBalancer(config.upstream.balance),
    connections: sameConnections ? kept : new UpstreamConnections(connectionOptions),
    trust: createTrust(config.trustedProxies),
    retry: retryPolicy(config.retries),
  };
}
