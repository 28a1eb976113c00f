import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForPort } from '../test/helpers/net.js';
import { processTree } from './proc-stat.js';

export interface StartOptions {
  /** Short name, used for the log file and in error messages. */
  name: string;
  command: string;
  args: readonly string[];
  /** Where the process's stdout and stderr go (a file: the bench's event loop never reads them). */
  logDir: string;
  env?: NodeJS.ProcessEnv;
  /** Ready once this port answers on 127.0.0.1. */
  port: number;
  timeout?: number;
}

export interface Managed {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** The last lines the process wrote, for error messages. */
  tail(lines?: number): string;
  exited(): boolean;
  /** SIGTERM (nginx and our proxy drain on it), SIGKILL after 5 s; waits for the exit. */
  stop(): Promise<void>;
}

interface Stoppable {
  stop(): Promise<void>;
}

/** Every process this bench started and has not stopped yet; stopAll() runs pass or fail. */
const running = new Set<Stoppable>();

export async function startProcess(options: StartOptions): Promise<Managed> {
  const { name, command, args, logDir, env, port, timeout = 15_000 } = options;
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  } finally {
    closeSync(fd);
  }
  let spawnError: Error | null = null;
  child.once('error', (err) => {
    spawnError = err;
  });
  const hasExited = () => child.exitCode !== null || child.signalCode !== null || spawnError !== null;
  const tail = (lines = 20) => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  const managed: Managed = {
    name,
    pid: child.pid ?? 0,
    logFile,
    tail,
    exited: hasExited,
    async stop() {
      running.delete(managed);
      if (hasExited()) return;
      // Remember the children now: if the parent has to be killed, they are killed too.
      const tree = child.pid ? processTree(child.pid) : [];
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const pid of tree.reverse()) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        }
      }, 5000);
      await gone;
      clearTimeout(timer);
    },
  };
  running.add(managed);
  try {
    await waitForPort(port, timeout, () =>
      hasExited()
        ? `${name} exited before listening (${spawnError ?? `code ${child.exitCode}`}):\n${tail()}`
        : null,
    );
  } catch (err) {
    await managed.stop();
    throw err;
  }
  return managed;
}

/** Registers a process started elsewhere (real nginx, via the test helper); returns its stop. */
export function track(stop: () => Promise<void>): () => Promise<void> {
  const entry: Stoppable = {
    async stop() {
      if (!running.delete(entry)) return;
      await stop();
    },
  };
  running.add(entry);
  return () => entry.stop();
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((m) => m.stop()));
}
