import { Agent } from 'node:http';
import type { Config } from '../config/index.js';
import { type Balancer, createBalancer } from './pool/balancer.js';
import type { Pool } from './pool/pool.js';
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
  readonly agent: Agent;
  readonly trust: Trust;
  readonly retryOn: {
    readonly error: boolean;
    readonly timeout: boolean;
    readonly statuses: ReadonlySet<number>;
  };
}

/**
 * The upstream keep-alive pool (nginx `keepalive N` + HTTP/1.1): idle sockets kept per upstream
 * up to `keepalive`, closed after `keepalive_timeout` idle; LIFO so hot sockets are reused.
 */
export function createUpstreamAgent(config: Config): Agent {
  return new Agent({
    keepAlive: true,
    maxFreeSockets: Math.max(1, config.upstream.keepalive),
    timeout: config.upstream.keepaliveTimeout,
    scheduling: 'lifo',
  });
}

export function createRuntime(config: Config, pool: Pool, previous?: Runtime): Runtime {
  const sameAgent =
    previous &&
    previous.config.upstream.keepalive === config.upstream.keepalive &&
    previous.config.upstream.keepaliveTimeout === config.upstream.keepaliveTimeout;
  const next = config.retries.nextUpstream;
  return {
    config,
    pool,
    balancer: createBalancer(config.upstream.balance),
    agent: sameAgent ? previous.agent : createUpstreamAgent(config),
    trust: createTrust(config.trustedProxies),
    retryOn: {
      error: next.includes('error'),
      timeout: next.includes('timeout'),
      statuses: new Set(next.filter((c) => c.startsWith('http_')).map((c) => Number(c.slice(5)))),
    },
  };
}
