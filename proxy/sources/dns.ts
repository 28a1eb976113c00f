import { promises as dns } from 'node:dns';
import { formatAddress, type ResolveConfig, type ServerConfig } from '../../config/index.js';
import type { Logger } from '../../process/logger.js';
import type { PoolSource } from './source.js';

export interface DnsSourceOptions {
  /** Every address of a name; the default asks the system resolver (what compose's DNS answers). */
  lookup?: (host: string) => Promise<string[]>;
  logger?: Logger;
}

/**
 * A DNS name re-resolved every interval, one server per address: with docker compose the
 * service name resolves to every replica, so scaling the service scales the pool. A snapshot is
 * delivered only when the set of addresses changed; a failed lookup keeps the last one (a DNS
 * hiccup must not empty the pool).
 */
export function createDnsSource(
  resolve: ResolveConfig,
  defaults: { maxFails: number; failTimeout: number },
  options: DnsSourceOptions = {},
): PoolSource {
  const { lookup = lookupAll, logger } = options;
  let timer: NodeJS.Timeout | null = null;
  // Bumped by start and stop, so a lookup still in flight from an earlier run is ignored.
  let generation = 0;
  let running = false;
  let lastKey: string | null = null;

  async function refresh(onSnapshot: (servers: readonly ServerConfig[]) => void, run: number): Promise<void> {
    let addresses: string[];
    try {
      addresses = [...new Set(await lookup(resolve.host))].sort();
      if (addresses.length === 0) throw new Error(`no address for ${resolve.host}`);
    } catch (error) {
      if (run === generation)
        logger?.warn({ err: error, host: resolve.host }, 'dns lookup failed; keeping the last pool');
      return;
    }
    if (run !== generation) return;
    const key = addresses.join(' ');
    if (key === lastKey) return;
    lastKey = key;
    logger?.info({ host: resolve.host, addresses }, 'dns pool changed');
    try {
      onSnapshot(Object.freeze(addresses.map((host) => toServer(host, resolve.port, defaults))));
    } catch (error) {
      // The consumer's bug must not become an unhandled rejection that stops the refresh loop.
      logger?.error({ err: error, host: resolve.host }, 'applying the dns pool failed');
    }
  }

  return {
    start(onSnapshot) {
      if (running) return;
      running = true;
      lastKey = null;
      const run = ++generation;
      // Chained timeouts rather than an interval: a slow resolver never gets two lookups in flight.
      const tick = (): void => {
        timer = null;
        void refresh(onSnapshot, run).finally(function scheduleNext() {
          if (run !== generation) return;
          timer = setTimeout(tick, resolve.interval);
          timer.unref();
        });
      };
      tick();
    },
    stop() {
      running = false;
      generation++;
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}

async function lookupAll(host: string): Promise<string[]> {
  const records = await dns.lookup(host, { all: true });
  return records.map((record) => record.address);
}

function toServer(
  host: string,
  port: number,
  defaults: { maxFails: number; failTimeout: number },
): ServerConfig {
  return {
    address: formatAddress({ host, port }),
    host,
    port,
    weight: 1,
    maxFails: defaults.maxFails,
    failTimeout: defaults.failTimeout,
    backup: false,
  };
}
