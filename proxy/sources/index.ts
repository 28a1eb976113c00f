import type { UpstreamConfig, WorkersConfig } from '../../config/index.js';
import type { Logger } from '../../process/logger.js';
import { PM2_WORKERS_VAR } from '../../stack/pm2-bus.js';
import { createDnsSource } from './dns.js';
import { createDockerSource } from './docker/source.js';
import { createPm2Source } from './pm2/source.js';
import type { PoolSource } from './source.js';
import { createStaticSource } from './static.js';

/** What a pool source is made from: the top-level sections, or a route's own. */
export interface PoolSpec {
  readonly upstream: UpstreamConfig;
  readonly workers: WorkersConfig;
}

export type PoolSourceFactory = (pool: PoolSpec, env: NodeJS.ProcessEnv) => PoolSource;

export type PoolSourceKind = 'static' | 'dns' | 'docker' | 'pm2';

/** Where the pool comes from: a DNS name, Docker discovery, pm2's workers, or the static list. */
export function poolSourceKind(
  pool: Pick<PoolSpec, 'upstream'>,
  env: NodeJS.ProcessEnv = process.env,
): PoolSourceKind {
  const { upstream } = pool;
  if (upstream.resolve) return 'dns';
  if (upstream.docker) return 'docker';
  if (upstream.serversFromWorkers && env[PM2_WORKERS_VAR]) return 'pm2';
  return 'static';
}

/** The pool source the config (and, under pm2, the ecosystem) asks for. */
export function createPoolSource(
  pool: PoolSpec,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): PoolSource {
  const { upstream, workers } = pool;
  const defaults = { maxFails: upstream.maxFails, failTimeout: upstream.failTimeout };
  switch (poolSourceKind(pool, env)) {
    case 'dns':
      return createDnsSource(upstream.resolve!, defaults, { logger });
    case 'docker':
      return createDockerSource(upstream.docker!, defaults, { logger });
    case 'pm2':
      return createPm2Source(
        { app: env[PM2_WORKERS_VAR]!, host: workers.host, port: workers.port },
        defaults,
        { logger },
      );
    default:
      return createStaticSource(upstream.servers);
  }
}

/**
 * The environment a pool's source reads: pm2 names only the top-level workers' app
 * (PM2_WORKERS_VAR), so a route's own pool keeps its static list of workers under pm2 too.
 */
export function poolEnv(isDefault: boolean, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return isDefault ? env : {};
}
