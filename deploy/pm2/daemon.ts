import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { projectRoot } from '../../config/index.js';
import { livePidIn } from '../../process/pid-file.js';
import { ecosystemPort, INSTANCE_VAR, integerVar, type WorkerVariables } from '../../stack/worker-port.js';

const require = createRequire(import.meta.url);

/**
 * Where `npm start` (gatehouse up) keeps its own pm2: sockets, pid file, logs. In the project's
 * folder (gatehouse's own in a checkout, the user's when installed), to be git-ignored there.
 */
export function stackPm2Home(): string {
  return join(projectRoot(), '.pm2');
}

/** The local pm2's executables (node_modules), so no global install is needed. */
export const pm2Dir = dirname(require.resolve('pm2/package.json'));
export const pm2Bin = join(pm2Dir, 'bin', 'pm2');

/** One process as pm2 sees it: what `gatehouse status` shows on the pm2 side. */
export interface Pm2ProcessInfo {
  name: string;
  pmId: number;
  pid: number;
  /** online, launching, stopping, stopped, errored... */
  status: string;
  restarts: number;
  /** Bytes, when pm2 has measured it. */
  memory: number | null;
  /** Epoch ms of the current process's start. */
  startedAt: number | null;
  /** The port a worker listens on: the ecosystem's base + its instance, else its PORT. */
  port: number | null;
  /** The HOST it was given (a worker), else null. */
  host: string | null;
  instance: number | null;
}

interface RawProcess {
  name?: string;
  pm_id?: number;
  pid?: number;
  monit?: { memory?: number };
  pm2_env?: {
    status?: string;
    restart_time?: number;
    pm_uptime?: number;
    [variable: string]: unknown;
    env?: Record<string, unknown>;
  };
}

// The slice of pm2's programmatic API used here (lib/API.js has no type declarations).
interface Pm2Api {
  connect(cb: (err: Error | null) => void): void;
  list(cb: (err: Error | null, list: RawProcess[]) => void): void;
  disconnect(cb?: () => void): void;
}
type Pm2ApiClass = new (options: { pm2_home: string; daemon_mode: boolean }) => Pm2Api;

/** pm2's own answer to "which PM2_HOME": $PM2_HOME, else ~/.pm2. */
export function defaultPm2Home(): string {
  const paths = require('pm2/paths.js') as (home?: string) => { PM2_HOME: string };
  return paths().PM2_HOME;
}

/** The pid of the pm2 daemon running under `home`, or null when none is (a stale pid file included). */
export function daemonPid(home: string): number | null {
  return livePidIn(join(home, 'pm2.pid'));
}

/**
 * Every process of the pm2 daemon under `home`, or null when no daemon runs there. Never starts a
 * daemon (pm2's connect() would spawn one when none answers).
 */
export async function listPm2Processes(home: string): Promise<Pm2ProcessInfo[] | null> {
  if (daemonPid(home) === null) return null;
  // The class, not the package's default instance: that one is built at import time for ~/.pm2.
  const Api = require('pm2/lib/API.js') as Pm2ApiClass;
  const api = new Api({ pm2_home: home, daemon_mode: true });
  try {
    await new Promise<void>((resolve, reject) => api.connect((err) => (err ? reject(err) : resolve())));
    const raw = await new Promise<RawProcess[]>((resolve, reject) =>
      api.list((err, list) => (err ? reject(err) : resolve(list))),
    );
    return raw.map(toProcessInfo);
  } finally {
    await new Promise<void>((resolve) => api.disconnect(() => resolve()));
  }
}

function toProcessInfo(raw: RawProcess): Pm2ProcessInfo {
  const env = raw.pm2_env ?? {};
  // The port as the worker itself works it out (stack/worker-port.ts).
  const vars: WorkerVariables = { ...(env.env ?? {}), ...env };
  const port = ecosystemPort(vars) ?? integerVar(vars, 'PORT');
  const instance = integerVar(vars, INSTANCE_VAR);
  return {
    name: raw.name ?? '?',
    pmId: raw.pm_id ?? -1,
    pid: raw.pid ?? 0,
    status: env.status ?? 'unknown',
    restarts: env.restart_time ?? 0,
    memory: raw.monit?.memory ?? null,
    startedAt: env.pm_uptime ?? null,
    port: port !== null && Number.isInteger(port) && port > 0 ? port : null,
    host: typeof vars.HOST === 'string' && vars.HOST !== '' ? vars.HOST : null,
    instance,
  };
}
