import type { Logger } from '../../process/logger.js';
import { type ActiveHealthCheck, createActiveHealthCheck } from '../pool/active-health.js';
import { Pool } from '../pool/pool.js';
import type { Backend, Runtime } from '../runtime.js';
import type { PoolSourceFactory } from '../sources/index.js';
import { poolEnv } from '../sources/index.js';
import type { PoolSource } from '../sources/source.js';

/** The sources and health checks that keep every pool of the running config current. */
export interface PoolKeepers {
  /** Starts one source and one health check per pool; resolves once every source delivered a first snapshot. */
  start(): Promise<void>;
  stop(): void;
}

/**
 * One source and one health check per pool, each writing into the pool of the same name in
 * whatever runtime is current when it fires (a reload swaps the runtime, the sources and checks
 * of the new one take over). The same code for one pool or many.
 */
export function createPoolKeepers(
  getRuntime: () => Runtime,
  makeSource: PoolSourceFactory,
  logger: Logger,
): PoolKeepers {
  const sources: PoolSource[] = [];
  const checks: ActiveHealthCheck[] = [];
  const current = (name: string): Backend | undefined => getRuntime().backends.find((b) => b.name === name);

  function keep(backend: Backend): Promise<void> {
    const { name, upstream } = backend;
    const source = makeSource(backend, poolEnv(backend.isDefault));
    sources.push(source);
    const delivered = new Promise<void>((resolve) => {
      source.start((servers) => {
        const live = current(name);
        if (!live) return;
        live.pool = Pool.fromServers(servers, live.pool);
        live.connections.retain(new Set(servers.map((server) => server.address)));
        logger.info({ route: name, servers: servers.map((s) => s.address) }, 'pool updated');
        resolve();
      });
    });
    const h = upstream.health;
    if (h.enabled) {
      const check = createActiveHealthCheck({
        getPool: () => current(name)?.pool ?? Pool.empty,
        path: h.path,
        interval: h.interval,
        timeout: h.timeout,
        rise: h.rise,
        fall: h.fall,
        logger,
        onChange: (u, healthy) =>
          logger.warn(
            { route: name, upstream: u.address, healthy },
            healthy ? 'upstream up' : 'upstream down',
          ),
      });
      checks.push(check);
      check.start();
    }
    return delivered;
  }

  return {
    async start() {
      await Promise.all(getRuntime().backends.map(keep));
    },
    stop() {
      for (const check of checks.splice(0)) check.stop();
      for (const source of sources.splice(0)) source.stop();
    },
  };
}
