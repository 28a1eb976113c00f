import type { Config } from '../../config/index.js';
import type { Logger } from '../../process/logger.js';
import { PM2_WORKERS_VAR } from '../../stack/pm2-bus.js';
import { createDnsSource } from './dns.js';
import { createDockerSource } from './docker/source.js';
import { createPm2Source } from './pm2/source.js';
import type { PoolSource } from './source.js';
import { createStaticSource } from './static.js';

export type PoolSourceFactory = (config: Config) => PoolSource;

export type PoolSourceKind = 'static' | 'dns' | 'docker' | 'pm2';

/** Where the pool comes from: a DNS name, Docker discovery, pm2's workers, or the static list. */
export function poolSourceKind(config: Config, env: NodeJS.ProcessEnv = process.env): PoolSourceKind {
  const { upstream } = config;
  if (upstream.resolve) return 'dns';
  if (upstream.docker) return 'docker';
  if (upstream.serversFromWorkers && env[PM2_WORKERS_VAR]) return 'pm2';
  return 'static';
}

/** The pool source the config (and, under pm2, the ecosystem) asks for. */
export function createPoolSource(
  config: Config,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): PoolSource {
  const { upstream, workers } = config;
  const defaults = { maxFails: upstream.maxFails, failTimeout: upstream.failTimeout };
  switch (poolSourceKind(config, env)) {
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

/** Whether two configs describe the same pool source (else a reload replaces the source). */
export function samePoolSource(a: Config, b: Config): boolean {
  return (
    JSON.stringify([a.upstream.servers, a.upstream.resolve, a.upstream.docker]) ===
    JSON.stringify([b.upstream.servers, b.upstream.resolve, b.upstream.docker])
  );
}
