import cluster from 'node:cluster';
import { type Config, ConfigError, loadConfig } from '../config/index.js';
import { exitAfterDrainOnSignals } from '../process/lifecycle.js';
import { createLogger } from '../process/logger.js';
import { BodyMemory, exposeCollector, keepParserOnBaselineCompiler } from './body-memory.js';
import { isClusterPrimary, runPrimary, TICKET_KEYS_ENV } from './run-primary.js';
import { createProxyServer } from './server.js';
import type { AcmeManager } from './tls/acme/index.js';

export interface RunProxyOptions {
  config: Config;
  /** The file to re-read on SIGHUP (null: the embedded default / $GATEHOUSE_CONFIG). */
  configFile: string | null;
  /** Fork config.instances processes with node:cluster (off under pm2, which forks itself). */
  cluster: boolean;
}

/**
 * The proxy as a long-running process, nginx-style: SIGTERM/SIGINT drain and exit 0, SIGHUP
 * re-reads the config and the certificates and swaps them in (a bad file is logged and the
 * running config, or certificate, kept).
 * With instances > 1 a primary (run-primary.ts) forks that many proxy processes sharing the
 * listeners and relays signals to them.
 */
export async function runProxy(options: RunProxyOptions): Promise<void> {
  const { config } = options;
  if (isClusterPrimary(config, options.cluster)) return runPrimary(config);
  const logger = createLogger({
    name: 'proxy',
    level: config.logLevel,
    base: cluster.isWorker ? { instance: cluster.worker?.id } : {},
  });
  process.on('uncaughtException', (err) => {
    // The request path catches its own errors; reaching here is a bug. Log it and keep serving
    // rather than drop every connection of this process.
    logger.fatal({ err }, 'uncaught exception');
  });
  process.on('unhandledRejection', (err) => logger.fatal({ err }, 'unhandled rejection'));
  // Process-wide memory settings for streamed bodies (body-memory.ts), before any upstream connection.
  keepParserOnBaselineCompiler();
  const bodyMemory = new BodyMemory(exposeCollector());
  const proxy = createProxyServer(config, {
    logger,
    onBodyBytes: bodyMemory.add,
    // The ecosystem's development profile (pm2 --env development, gatehouse up --env development).
    devReload: process.env.NODE_ENV === 'development',
    ...clusterTicketKeys(),
  });
  // nginx -s reopen, for logrotate's postrotate: an access_log file is opened again at its path.
  // Listening for SIGUSR1 also means that Node no longer starts its inspector on it (a debugger
  // needs node --inspect then).
  process.on('SIGUSR1', () => proxy.reopenLogs());
  try {
    await proxy.listen();
  } catch (err) {
    // A proxy that cannot listen must not look alive to pm2 or docker: exit for a restart.
    logger.fatal({ err }, 'cannot listen');
    process.exit(1);
  }
  // Every process of a cluster runs one: the lock in storage makes one order, the others pick
  // the files up. start() never throws; it resolves after the first check (ordered or retrying).
  // Loaded only when used: acme-client and its HTTP stack add ~0.4 s to every proxy start.
  const acme: AcmeManager | null = config.tls?.acme
    ? (await import('./tls/acme/index.js')).attachAcme(proxy, config.tls.acme, logger)
    : null;
  void acme?.start();
  process.send?.('ready');

  process.on('SIGHUP', () => {
    try {
      proxy.reload(loadConfig({ file: options.configFile }));
    } catch (err) {
      if (err instanceof ConfigError)
        logger.error(
          { problems: err.problems },
          `reload refused, keeping the running config:\n${err.message}`,
        );
      else logger.error({ err }, 'reload failed, keeping the running config');
      // The config stays, but renewed certificate files still go into service.
      proxy.reloadCertificates();
    }
  });
  exitAfterDrainOnSignals(logger, async () => {
    // An order under way finishes and releases its lock before the process goes.
    await Promise.all([acme?.stop(), proxy.shutdown()]);
  });
}

/** In a cluster's process, the keys its primary made; elsewhere none (each process makes its own). */
function clusterTicketKeys(): { ticketKeys?: Buffer } {
  const keys = cluster.isWorker ? process.env[TICKET_KEYS_ENV] : undefined;
  return keys ? { ticketKeys: Buffer.from(keys, 'base64') } : {};
}
