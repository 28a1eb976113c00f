import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { type Config, workerEnv } from '../config/index.js';
import { exitAfterDrainOnSignals } from '../process/lifecycle.js';
import { createLogger } from '../process/logger.js';
import { DRAIN_NOTICE_MS, DRAINING_MESSAGE, tellPm2 } from '../stack/pm2-bus.js';
import { type GatewayApp, toGatewayApp } from './gateway.js';
import { createSite } from './site/index.js';
import { typeScriptLoadError } from './typescript.js';
import { startWatchdog } from './watchdog.js';
import { createWorker } from './worker.js';

export interface RunWorkerOptions {
  config: Config;
  /** Module exporting the app (default export or `app`); overrides config.workers.app. */
  appModule?: string | null;
  env?: NodeJS.ProcessEnv;
}

/**
 * Loads an app module: its default export, or a named `app` export. A relative path is taken from
 * the working directory (the project folder under `gatehouse up` and pm2). A TypeScript module runs
 * where Node strips types; elsewhere the error says so, and what to do, instead of Node's
 * "Unknown file extension".
 */
export async function loadApp(modulePath: string): Promise<GatewayApp> {
  const path = resolve(modulePath);
  let mod: { default?: unknown; app?: unknown };
  try {
    mod = (await import(pathToFileURL(path).href)) as typeof mod;
  } catch (err) {
    throw typeScriptLoadError(path, err) ?? err;
  }
  return toGatewayApp(mod.default ?? mod.app);
}

/**
 * A worker process, gunicorn-style: listen, tell pm2 `ready`, drain on SIGINT/SIGTERM and exit 0;
 * an exception outside any request is logged and ends the process with 1, for pm2 to restart it.
 */
export async function runWorker({ config, appModule, env = process.env }: RunWorkerOptions): Promise<void> {
  const { host, port, instance } = workerEnv(config, env);
  // Every line says which worker wrote it: the logger adds pid and host name (one per container in
  // compose), the instance and, once it listens, the port tell pm2's workers on one host apart.
  const logger = createLogger({ name: 'worker', level: config.logLevel, base: { instance } });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception; exiting');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled rejection; exiting');
    process.exit(1);
  });
  const modulePath = appModule ?? config.workers.app;
  let app: GatewayApp;
  try {
    app = modulePath
      ? await loadApp(modulePath)
      : createSite({ diagnostics: config.workers.diagnostics, bodyLimit: config.workers.bodyLimit });
  } catch (err) {
    // Before anything listens: one line (the reason in err.message) that `gatehouse up` and pm2's
    // logs show, and exit 1. pm2 restarts it, and it fails the same way: a crash loop to fix.
    logger.fatal({ err, app: modulePath }, 'cannot load the app; exiting');
    process.exit(1);
  }
  const worker = createWorker({
    app,
    logger,
    host,
    port,
    instance,
    gracePeriod: config.workers.gracePeriod,
    keepaliveTimeout: config.workers.keepaliveTimeout,
    // Docker's HEALTHCHECK probes it too, with active health off or not.
    healthPath: config.upstream.health.path,
    concurrency: config.workers.concurrency,
  });
  const address = await worker.listen();
  logger.info({ host: address.address, port: address.port, app: modulePath ?? 'sample site' }, 'listening');
  // Only now: PORT=0 gets its port from listen(), and the line above names it already.
  logger.setBindings({ port: address.port });
  // From here on, not from the start: a worker stuck while it loads never says `ready`, and pm2's
  // listen_timeout (or Docker's healthcheck) deals with that; the watchdog guards the serving loop.
  const watchdog = startWatchdog({
    timeout: config.workers.timeout,
    bindings: { instance, port: address.port },
    onError: (err) => logger.error({ err }, 'the watchdog thread failed; workers.timeout is not enforced'),
  });
  if (!watchdog && config.workers.timeout > 0)
    logger.warn(
      'the inspector is open (--inspect): workers.timeout is not enforced, so a breakpoint does not kill the worker',
    );
  process.send?.('ready');

  exitAfterDrainOnSignals(logger, async () => {
    // Under pm2: tell the proxy's pm2 pool source first (pm2 puts typed messages on its bus), so
    // it takes this worker out of the pool before the listener closes, not after the exit.
    if (tellPm2(DRAINING_MESSAGE, { pid: process.pid, port: address.port })) await sleep(DRAIN_NOTICE_MS);
    return worker.shutdown();
  });
}
