import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childEnv, forkGatehouse, type GatehouseChild, type LogLine, type StopResult } from './child.js';

export { gatehouseBin, type LogLine, type StopResult } from './child.js';

export interface StartWorkerOptions {
  /** App module (path to compiled JS); the sample site when omitted. */
  app?: string;
  /** A config file path, or a config document (merged over the default) written to a temp file. */
  config?: string | Record<string, unknown>;
  /** Extra environment for the child; PORT defaults to '0' (any free port). */
  env?: Record<string, string>;
  /** How long to wait for "listening" and 'ready', in ms. */
  startTimeout?: number;
  /** Where the worker runs (default: the package root). */
  cwd?: string;
  /** More command-line options for `gatehouse worker` (e.g. --route NAME). */
  args?: readonly string[];
}

export interface WorkerProcess {
  port: number;
  child: ChildProcess;
  /** Every JSON line logged so far; grows as the worker logs. */
  logs: LogLine[];
  /** Everything the worker wrote to stderr so far. */
  stderr(): string;
  /** Settles when the process has exited (for any reason). */
  exited: Promise<StopResult>;
  /** The first log line (already logged or still to come) that matches. */
  waitForLog(predicate: (line: LogLine) => boolean, timeout?: number): Promise<LogLine>;
  /**
   * Sends `signal` (SIGTERM: drain and exit), waits up to `timeout` ms, then SIGKILLs. Always leaves
   * the process dead and its temp files gone; safe to call twice and after the process exited.
   */
  stop(options?: { signal?: NodeJS.Signals; timeout?: number }): Promise<StopResult>;
}

/** This process's environment minus what would steer a worker, with PORT=0 and `extra` on top. */
export function workerProcessEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return childEnv({ PORT: '0', ...extra });
}

/** `node bin/gatehouse.js worker` as `options` say, as a child process with its output collected. */
function forkWorker(options: StartWorkerOptions): GatehouseChild {
  const { app, config, env = {}, cwd } = options;
  let tempDir: string | null = null;
  const args = ['worker', ...(options.args ?? [])];
  if (app) args.push('--app', app);
  if (typeof config === 'string') {
    args.push('--config', config);
  } else if (config) {
    tempDir = mkdtempSync(join(tmpdir(), 'gatehouse-worker-'));
    const file = join(tempDir, 'config.yaml');
    // JSON is YAML: the document needs no serializer of its own.
    writeFileSync(file, JSON.stringify(config));
    args.push('--config', file);
  }
  return forkGatehouse(args, workerProcessEnv(env), tempDir, cwd);
}

/**
 * Starts `node bin/gatehouse.js worker` as a real child process with an IPC channel (as pm2 does)
 * and resolves once it logged "listening" with its port and sent 'ready'. Rejects with the
 * worker's output if it exits first or does not get there within `startTimeout`.
 */
export function startWorker(options: StartWorkerOptions = {}): Promise<WorkerProcess> {
  const { startTimeout = 15_000 } = options;
  const { child, book, stderr, exited, stop, describe } = forkWorker(options);

  return new Promise((resolve, reject) => {
    let port: number | null = null;
    let ready = false;
    const timer = setTimeout(() => {
      void stop({ signal: 'SIGKILL' });
      reject(new Error(`worker did not start within ${startTimeout} ms\n${describe()}`));
    }, startTimeout);
    const settle = () => {
      if (port === null || !ready) return;
      clearTimeout(timer);
      resolve({ port, child, logs: book.lines, stderr, exited, waitForLog: book.waitFor, stop });
    };
    child.on('message', (message) => {
      if (message !== 'ready') return;
      ready = true;
      settle();
    });
    const listening = (line: LogLine) => {
      if (line.msg !== 'listening' || typeof line.port !== 'number') return;
      book.listeners.delete(listening);
      port = line.port;
      settle();
    };
    book.listeners.add(listening);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      book.listeners.delete(listening);
      // A no-op once resolved; otherwise the worker died before it was up.
      reject(new Error(`worker exited (code ${code}, signal ${signal}) before it was ready\n${describe()}`));
    });
  });
}

/**
 * Runs a worker that must fail before it listens (an app module that cannot load) and resolves
 * once it exited: how, and its lines at error level or worse.
 */
export async function runFailingWorker(
  options: StartWorkerOptions,
): Promise<{ exit: StopResult; errors: LogLine[]; describe(): string }> {
  const { book, exited, stop, describe } = forkWorker(options);
  const timer = setTimeout(() => void stop({ signal: 'SIGKILL' }), options.startTimeout ?? 15_000);
  const exit = await exited;
  clearTimeout(timer);
  return { exit, errors: book.lines.filter((line) => (line.level ?? 0) >= 50), describe };
}
