import type { Config, RouteConfig, UpstreamConfig, WorkersConfig } from '../config/index.js';
import { type ConnectionOptions, UpstreamConnections } from './connections.js';
import { type Balancer, createBalancer } from './pool/balancer.js';
import { Pool } from './pool/pool.js';
import { type RetryPolicy, retryPolicy } from './retry.js';
import { createRouteMatcher, type RouteMatcher } from './routes/match.js';
import { routeTable } from './routes/table.js';
import { poolEnv, poolSourceKind } from './sources/index.js';
import { createTrust, type Trust } from './trust.js';

/**
 * One pool the proxy balances over (nginx's `upstream {}` block) with what goes with it: its
 * balancing policy and its kept-alive connections. The top-level pool is one, each route with an
 * `upstream` or `workers` of its own is another. The pool inside is swapped when its source
 * delivers a new snapshot.
 */
export interface Backend {
  /** The top-level pool's is "default"; a route's own pool carries the route's name. */
  readonly name: string;
  readonly upstream: UpstreamConfig;
  readonly workers: WorkersConfig;
  /** The top-level pool (its workers are the pm2 ecosystem's main worker app). */
  readonly isDefault: boolean;
  pool: Pool;
  readonly balancer: Balancer;
  readonly connections: UpstreamConnections;
}

/** A route as the request path uses it: where it answers, and the pool behind it (null: static, redirect). */
export interface Route {
  readonly config: RouteConfig;
  readonly host: string | null;
  readonly path: string;
  readonly backend: Backend | null;
}

/**
 * Everything the request path reads that a reload (SIGHUP) may change, swapped as one object so
 * a request sees either the old settings or the new ones, never a mix.
 */
export interface Runtime {
  readonly config: Config;
  readonly routes: readonly Route[];
  /** The pools behind the routes, each once; the top-level one first when a route uses it. */
  readonly backends: readonly Backend[];
  readonly match: RouteMatcher<Route>;
  readonly trust: Trust;
  readonly retry: RetryPolicy;
}

export function createRuntime(config: Config, previous?: Runtime): Runtime {
  const backends: Backend[] = [];
  const backendOf = (route: RouteConfig): Backend | null => {
    const target = route.target;
    if (target.kind !== 'pool') return null;
    const isDefault = target.pool === 'default';
    const name = isDefault ? 'default' : route.name;
    const existing = backends.find((b) => b.name === name);
    if (existing) return existing;
    const made = createBackend(name, target.upstream, target.workers, isDefault, config, previous);
    backends.push(made);
    return made;
  };
  const routes = routeTable(config).map((route) => ({
    config: route,
    host: route.host,
    path: route.path,
    backend: backendOf(route),
  }));
  backends.sort((a, b) => Number(b.isDefault) - Number(a.isDefault));
  return {
    config,
    routes,
    backends,
    match: createRouteMatcher(routes),
    trust: createTrust(config.trustedProxies),
    retry: retryPolicy(config.retries),
  };
}

function createBackend(
  name: string,
  upstream: UpstreamConfig,
  workers: WorkersConfig,
  isDefault: boolean,
  config: Config,
  previous: Runtime | undefined,
): Backend {
  const connectionOptions: ConnectionOptions = {
    keepalive: upstream.keepalive,
    keepaliveTimeout: upstream.keepaliveTimeout,
    connectTimeout: config.timeouts.connect,
  };
  const before = previous?.backends.find((b) => b.name === name);
  const kept = before?.connections;
  const sameConnections =
    kept !== undefined &&
    (Object.keys(connectionOptions) as (keyof ConnectionOptions)[]).every(
      (key) => kept.options[key] === connectionOptions[key],
    );
  // A discovered pool (DNS, Docker, pm2) stays as it was until its source delivers again.
  const pool =
    before && poolSourceKind({ upstream }, poolEnv(isDefault)) !== 'static'
      ? before.pool
      : Pool.fromServers(upstream.servers, before?.pool);
  return {
    name,
    upstream,
    workers,
    isDefault,
    pool,
    balancer: createBalancer(upstream.balance),
    connections: sameConnections ? kept : new UpstreamConnections(connectionOptions),
  };
}
