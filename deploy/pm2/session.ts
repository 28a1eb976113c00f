import { createRequire } from 'node:module';
import type { EcosystemProfile, Pm2App } from './ecosystem.js';

const require = createRequire(import.meta.url);

/** Output a process wrote, as pm2's bus carries it: chunks, not lines. */
export interface Pm2Output {
  name: string;
  pmId: number;
  stream: 'out' | 'err';
  data: string;
}

/** A process exited (pm2 starts it again), or pm2 gave up on it after quick restarts (errored). */
export interface Pm2ProcessEvent {
  event: 'exit' | 'errored';
  name: string;
  pmId: number;
  exitCode: number | null;
  restarts: number;
}

/** pm2's daemon for one stack, driven in this process (pm2's programmatic API). */
export interface StackDaemon {
  /** Starts one app of the ecosystem; resolves once each instance said ready (wait_ready). */
  start(app: Pm2App, profile: EcosystemProfile): Promise<void>;
  /** `pm2 kill`: each process drains and stops, then the daemon exits. */
  kill(): Promise<void>;
  /** Lets this process exit: closes the RPC and bus sockets. */
  disconnect(): Promise<void>;
}

export interface StackDaemonOptions {
  /** PM2_HOME of this stack's own daemon. */
  home: string;
  onOutput?: (output: Pm2Output) => void;
  onEvent?: (event: Pm2ProcessEvent) => void;
}

// The slice of pm2's API used here (lib/API.js has no type declarations).
interface Pm2Bus {
  on(event: string, listener: (packet: BusPacket) => void): void;
}
interface BusPacket {
  event?: string;
  data?: unknown;
  process?: {
    name?: string;
    pm_id?: number;
    exit_code?: number;
    restart_time?: number;
  };
}
interface Pm2Api {
  connect(cb: (err: Error | null) => void): void;
  launchBus(cb: (err: Error | null, bus: Pm2Bus) => void): void;
  start(config: { apps: Pm2App[] }, opts: { env: string }, cb: (err: unknown) => void): void;
  killDaemon(cb: (err: Error | null) => void): void;
  disconnect(cb: () => void): void;
}
type Pm2ApiClass = new (options: { pm2_home: string; daemon_mode: boolean }) => Pm2Api;

/**
 * Connects to the pm2 daemon under `home`, starting one if none runs, and follows its processes'
 * output and exits on pm2's bus. In this process rather than through the pm2 CLI: one Node start
 * less per command, nothing printed that we did not choose (no banner, no table), and exits seen
 * as events rather than by polling.
 *
 * pm2 reads its settings from the environment once, when first loaded, and the daemon it spawns
 * inherits this process's environment: hence the variables set here, before the require.
 */
export async function connectStackDaemon(options: StackDaemonOptions): Promise<StackDaemon> {
  const { home, onOutput, onEvent } = options;
  // The daemon takes PM2_HOME from the environment over the API's option; a user's own
  // PM2_HOME must not send it elsewhere.
  process.env.PM2_HOME = home;
  // One process at a time for every action of this daemon, the file watcher's restarts included:
  // by default it restarts two workers at once, and then the pool has nobody left to answer.
  process.env.PM2_CONCURRENT_ACTIONS = '1';
  // pm2's own messages (banner, "[PM2] Spawning...", the process table) are off when it is used
  // as a library; `gatehouse up` says what happens in its own words.
  process.env.PM2_PROGRAMMATIC = 'true';
  const Api = require('pm2/lib/API.js') as Pm2ApiClass;
  const api = new Api({ pm2_home: home, daemon_mode: true });
  await call((cb) => api.connect(cb));
  if (onOutput || onEvent) {
    const bus = await new Promise<Pm2Bus>((resolve, reject) =>
      api.launchBus((err, b) => (err ? reject(err) : resolve(b))),
    );
    if (onOutput) {
      for (const stream of ['out', 'err'] as const) {
        bus.on(`log:${stream}`, (packet) => {
          const output = toOutput(packet, stream);
          if (output) onOutput(output);
        });
      }
    }
    if (onEvent) {
      bus.on('process:event', (packet) => {
        const event = toEvent(packet);
        if (event) onEvent(event);
      });
    }
  }
  return {
    start(app, profile) {
      // pm2 writes into the app object it is given (env, names): a copy keeps ours as it was.
      const copy = structuredClone(app);
      return call((cb) => api.start({ apps: [copy] }, { env: profile }, (err) => cb(toError(err))));
    },
    kill: () => call((cb) => api.killDaemon(cb)),
    disconnect: () => new Promise<void>((resolve) => api.disconnect(() => resolve())),
  };
}

function call(run: (cb: (err: Error | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => run((err) => (err ? reject(err) : resolve())));
}

/** pm2's start answers an Error, an array of them (one per app that failed), or null. */
function toError(err: unknown): Error | null {
  if (err === null || err === undefined) return null;
  if (Array.isArray(err)) return err.length === 0 ? null : toError(err[0]);
  return err instanceof Error ? err : new Error(String(err));
}

function toOutput(packet: BusPacket, stream: 'out' | 'err'): Pm2Output | null {
  const { process: proc, data } = packet;
  if (!proc || typeof data !== 'string') return null;
  return { name: proc.name ?? '?', pmId: proc.pm_id ?? -1, stream, data };
}

// pm2 notifies 'restart overlimit' when it marks a process errored, then 'exit'.
const EVENTS: Record<string, Pm2ProcessEvent['event']> = { exit: 'exit', 'restart overlimit': 'errored' };

function toEvent(packet: BusPacket): Pm2ProcessEvent | null {
  const event = EVENTS[packet.event ?? ''];
  const proc = packet.process;
  if (!event || !proc) return null;
  return {
    event,
    name: proc.name ?? '?',
    pmId: proc.pm_id ?? -1,
    exitCode: typeof proc.exit_code === 'number' ? proc.exit_code : null,
    restarts: proc.restart_time ?? 0,
  };
}
