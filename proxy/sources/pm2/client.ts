import { createRequire } from 'node:module';
import { DRAINING_MESSAGE } from '../../../stack/pm2-bus.js';

const require = createRequire(import.meta.url);

/** One process as pm2's process list describes it (the fields the pool reads). */
export interface Pm2ProcessEntry {
  name?: string;
  pm_id?: number;
  pid?: number;
  pm2_env?: Record<string, unknown> & {
    status?: string;
    env?: Record<string, unknown>;
  };
}

/** What pm2's bus says about a process: a lifecycle event, or a worker announcing its drain. */
export type Pm2BusEvent =
  | { kind: 'process'; event: string; name: string; pmId: number }
  | { kind: 'draining'; name: string; pmId: number; pid: number | null };

/** The slice of pm2's daemon a pool source needs. */
export interface Pm2Client {
  /** pm2's process list (`pm2 jlist`). */
  list(): Promise<Pm2ProcessEntry[]>;
  /** Follows the bus; `onClose` is called once if the daemon goes away. */
  follow(onEvent: (event: Pm2BusEvent) => void, onClose: (error: Error) => void): void;
  close(): void;
}

// pm2's lib/Client.js has no type declarations: the slice used here.
interface RawClient {
  pingDaemon(cb: (alive: boolean) => void): void;
  launchRPC(cb: (err?: Error | null) => void): void;
  launchBus(cb: (err: Error | null, sub: Emitter, socket: Emitter & { close?: () => void }) => void): void;
  executeRemote(method: string, arg: unknown, cb: (err: Error | null, result: unknown) => void): void;
  disconnectRPC(cb?: () => void): void;
  disconnectBus(cb?: () => void): void;
}
interface Emitter {
  on(event: string, listener: (...args: never[]) => void): void;
}
interface BusPacket {
  event?: string;
  data?: { pid?: unknown };
  process?: { name?: string; pm_id?: number };
}
type RawClientClass = new (options: { conf: Record<string, unknown>; daemon_mode: boolean }) => RawClient;

const LIST_TIMEOUT = 5000;

/**
 * Connects to the pm2 daemon that runs this process (its PM2_HOME, else pm2's default home)
 * through pm2's own client library. Never starts a daemon: pm2's API `connect()` would spawn one
 * when none answers, and a proxy outliving `pm2 kill` must not bring pm2 back. Rejects when no
 * daemon answers.
 */
export async function connectPm2(home?: string): Promise<Pm2Client> {
  // pm2's constants read PM2_HOME once, at load; the paths of the given home override them, so
  // this process's environment is left alone.
  const paths = require('pm2/paths.js') as (home?: string) => Record<string, unknown>;
  const constants = require('pm2/constants.js') as Record<string, unknown>;
  const Client = require('pm2/lib/Client.js') as RawClientClass;
  const conf = { ...constants, ...paths(home ?? process.env.PM2_HOME) };
  const raw = new Client({ conf, daemon_mode: true });
  const alive = await new Promise<boolean>((resolve) => raw.pingDaemon(resolve));
  if (!alive) throw new Error(`no pm2 daemon answers at ${String(conf.DAEMON_RPC_PORT)}`);
  await new Promise<void>((resolve, reject) => raw.launchRPC((err) => (err ? reject(err) : resolve())));
  let closed = false;

  return {
    list() {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error('pm2 did not answer the process list in 5 s')),
          LIST_TIMEOUT,
        );
        raw.executeRemote('getMonitorData', {}, (err, result) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(Array.isArray(result) ? (result as Pm2ProcessEntry[]) : []);
        });
      });
    },
    follow(onEvent, onClose) {
      raw.launchBus((err, sub, socket) => {
        if (err) return onClose(err);
        sub.on('process:event', (packet: BusPacket) => {
          const proc = packet.process;
          if (proc?.name !== undefined && typeof proc.pm_id === 'number') {
            onEvent({ kind: 'process', event: packet.event ?? '', name: proc.name, pmId: proc.pm_id });
          }
        });
        sub.on(DRAINING_MESSAGE, (packet: BusPacket) => {
          const proc = packet.process;
          const pid = Number(packet.data?.pid);
          if (proc?.name !== undefined && typeof proc.pm_id === 'number') {
            onEvent({
              kind: 'draining',
              name: proc.name,
              pmId: proc.pm_id,
              pid: Number.isInteger(pid) ? pid : null,
            });
          }
        });
        // axon reconnects by itself; a daemon that is gone for good ends this process anyway
        // (pm2 kill stops its children), so a lost bus only needs to be reported once.
        socket.on('reconnect attempt', () => {
          if (!closed) onClose(new Error('pm2 bus connection lost'));
        });
      });
    },
    close() {
      if (closed) return;
      closed = true;
      raw.disconnectBus();
      raw.disconnectRPC();
    },
  };
}
