import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/index.js';
import { createLogger } from '../process/logger.js';

/** How the primary hands the cluster's session ticket keys to each process it forks. */
export const TICKET_KEYS_ENV = 'GATEHOUSE_TLS_TICKET_KEYS';

/** Whether this process is the primary of a proxy cluster (config.instances > 1, not under pm2). */
export function isClusterPrimary(config: Config, useCluster: boolean): boolean {
  return useCluster && config.instances > 1 && cluster.isPrimary;
}

/**
 * The primary of `instances` proxy processes, nginx's master: it forks them (they share the
 * listeners through node:cluster), replaces one that dies, relays SIGHUP and SIGUSR1, and on
 * SIGTERM/SIGINT lets them drain and exits when the last is gone. It serves nothing itself, so it
 * loads none of the request path: a module of its own, which keeps a cluster's start to the
 * processes that serve.
 */
export function runPrimary(config: Config): void {
  const logger = createLogger({ name: 'proxy', level: config.logLevel, base: { role: 'primary' } });
  let stopping = false;
  let ready = 0;
  // One set of TLS session ticket keys for every process, replacements included: a client resumes
  // its session on whichever process the next connection reaches, as with nginx's workers.
  const env = { [TICKET_KEYS_ENV]: randomBytes(48).toString('base64') };
  for (let i = 0; i < config.instances; i++) cluster.fork(env);
  cluster.on('message', (_worker, msg) => {
    if (msg === 'ready' && ++ready === config.instances) process.send?.('ready');
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'proxy process died; starting another');
    cluster.fork(env);
  });
  const relay = (signal: NodeJS.Signals) => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.on('SIGHUP', () => relay('SIGHUP'));
  // Also keeps Node from starting its inspector on the primary's SIGUSR1.
  process.on('SIGUSR1', () => relay('SIGUSR1'));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      stopping = true;
      relay('SIGTERM');
    });
  }
}
