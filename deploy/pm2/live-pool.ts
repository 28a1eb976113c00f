import { type Config, formatAddress, type ServerConfig } from '../../config/index.js';
import type { Pm2ProcessInfo } from './daemon.js';
import { WORKER_APP } from './ecosystem.js';

/**
 * The config with its pool replaced by the workers pm2 runs now: for rendering nginx after
 * `pm2 scale`, since nginx cannot ask pm2 (our proxy follows pm2 by itself). Throws when pm2 runs
 * no online worker, or when the config names its own servers or another source.
 */
export function withLivePool(config: Config, processes: readonly Pm2ProcessInfo[]): Config {
  const { upstream, workers } = config;
  if (!upstream.serversFromWorkers) {
    throw new Error(
      'the config lists its own upstream servers (or resolve/docker), so the pool does not come from pm2; render without --from-pm2',
    );
  }
  const live = processes
    .filter((p) => p.name === WORKER_APP && p.status === 'online' && p.port !== null)
    .sort((a, b) => (a.instance ?? a.pmId) - (b.instance ?? b.pmId));
  if (live.length === 0) throw new Error(`pm2 runs no online ${WORKER_APP}`);
  const servers: ServerConfig[] = live.map((p) => {
    const host = p.host ?? workers.host;
    return {
      address: formatAddress({ host, port: p.port! }),
      host,
      port: p.port!,
      weight: 1,
      maxFails: upstream.maxFails,
      failTimeout: upstream.failTimeout,
      backup: false,
    };
  });
  return { ...config, upstream: { ...upstream, servers } };
}
