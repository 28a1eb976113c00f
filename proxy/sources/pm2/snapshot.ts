import { formatAddress, type ServerConfig } from '../../../config/index.js';
import {
  ecosystemPort,
  integerVar,
  type WorkerVariables,
  workerInstance,
} from '../../../stack/worker-port.js';
import type { Pm2ProcessEntry } from './client.js';

export interface Pm2SnapshotOptions {
  /** The pm2 app whose instances are the workers (gatehouse-worker). */
  app: string;
  /** workers.host and workers.port: a process whose environment says nothing else listens there. */
  host: string;
  port: number;
  maxFails: number;
  failTimeout: number;
  /** Processes that announced their drain, as `pm_id:pid`: out at once, before they stop listening. */
  leaving: ReadonlySet<string>;
  /** pm_ids that crashed (exited without draining) too often lately. */
  crashLooping: ReadonlySet<number>;
}

/** A process of the app left out of the pool, and why (logged once per change). */
export interface SkippedProcess {
  pmId: number;
  reason: string;
}

export interface Pm2Snapshot {
  servers: ServerConfig[];
  skipped: SkippedProcess[];
}

/** The key `leaving` holds a draining process under: its pm_id and the pid of that run. */
export function processKey(pmId: number, pid: number): string {
  return `${pmId}:${pid}`;
}

/**
 * The pool as pm2 runs it, from pm2's process list: one server per instance of the app that is
 * online (pm2 marks a `wait_ready` process online only once it said ready, after it listens), not
 * draining, and not crash-looping. A pure function of the list, so a re-list rebuilds the whole
 * pool rather than patching it. Each worker's address is worked out exactly as the worker works
 * out its own (stack/worker-port.ts).
 */
export function pm2Snapshot(processes: readonly Pm2ProcessEntry[], options: Pm2SnapshotOptions): Pm2Snapshot {
  const servers: ServerConfig[] = [];
  const skipped: SkippedProcess[] = [];
  const taken = new Map<string, number>();
  const mine = processes
    .filter((p) => p.name === options.app && typeof p.pm_id === 'number')
    .map((p) => ({ p, vars: variables(p), pmId: p.pm_id! }))
    .sort((a, b) => workerInstance(a.vars) - workerInstance(b.vars) || a.pmId - b.pmId);
  for (const { p, vars, pmId } of mine) {
    const status = String(p.pm2_env?.status ?? 'unknown');
    const pid = p.pid ?? 0;
    let reason: string | null = null;
    if (status !== 'online') reason = `pm2 status ${status}`;
    else if (pid <= 0) reason = 'no pid';
    else if (options.leaving.has(processKey(pmId, pid))) reason = 'draining';
    else if (options.crashLooping.has(pmId)) reason = 'crash-looping';
    const port = ecosystemPort(vars) ?? integerVar(vars, 'PORT') ?? options.port + workerInstance(vars);
    const host = typeof vars.HOST === 'string' && vars.HOST !== '' ? vars.HOST : options.host;
    if (reason === null && !(Number.isInteger(port) && port > 0 && port <= 65535))
      reason = `no valid port (${port})`;
    const address = formatAddress({ host, port });
    if (reason === null && taken.has(address)) reason = `${address} is pm2 id ${taken.get(address)}'s too`;
    if (reason !== null) {
      skipped.push({ pmId, reason });
      continue;
    }
    taken.set(address, pmId);
    servers.push({
      address,
      host,
      port,
      weight: 1,
      maxFails: options.maxFails,
      failTimeout: options.failTimeout,
      backup: false,
    });
  }
  return { servers, skipped };
}

/** pm2 keeps an app's environment both flat in pm2_env and under pm2_env.env; the flat one is current. */
function variables(p: Pm2ProcessEntry): WorkerVariables {
  const env = p.pm2_env ?? {};
  return { ...(env.env ?? {}), ...env };
}
