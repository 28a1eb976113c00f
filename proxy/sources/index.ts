import type { Config } from '../../config/index.js';
import type { Logger } from '../../process/logger.js';
import { createDnsSource } from './dns.js';
import { createDockerSource } from './docker/source.js';
import type { PoolSource } from './source.js';
import { createStaticSource } from './static.js';

export type PoolSourceFactory = (config: Config) => PoolSource;

/** The pool source the config asks for: a DNS name, Docker discovery, or the static list. */
export function createPoolSource(config: Config, logger: Logger): PoolSource {
  const { upstream } = config;
  const defaults = { maxFails: upstream.maxFails, failTimeout: upstream.failTimeout };
  if (upstream.resolve) return createDnsSource(upstream.resolve, defaults, { logger });
  if (upstream.docker) return createDockerSource(upstream.docker, defaults, { logger });
  return createStaticSource(upstream.servers);
}

/** Whether two configs describe the same pool source (else a reload replaces the source). */
export function samePoolSource(a: Config, b: Config): boolean {
  return (
    JSON.stringify([a.upstream.servers, a.upstream.resolve, a.upstream.docker]) ===
    JSON.stringify([b.upstream.servers, b.upstream.resolve, b.upstream.docker])
  );
}
