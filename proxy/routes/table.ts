import type { Config, RouteConfig } from '../../config/index.js';

/** The route every request takes when the config has no `routes:`: the top-level pool, any host, any path. */
export const DEFAULT_ROUTE_NAME = 'default';

/**
 * The routes the proxy serves: the config's, or — without any — one route to the top-level pool,
 * so a single-pool config runs through the same routing code as a multi-app one.
 */
export function routeTable(config: Config): readonly RouteConfig[] {
  if (config.routes.length > 0) return config.routes;
  return [
    {
      name: DEFAULT_ROUTE_NAME,
      host: null,
      path: '/',
      stripPrefix: false,
      target: {
        kind: 'pool',
        pool: 'default',
        upstream: config.upstream,
        workers: config.workers,
        localWorkers: false,
      },
    },
  ];
}
