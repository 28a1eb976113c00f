import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../config/index.js';

/** The CLI entry a worker process runs, as pm2 and users start it. */
export const gatehouseBin = join(packageRoot, 'bin', 'gatehouse.js');

/** One JSON log line from the worker's stdout (pino). */
export interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

export interface StartWorkerOptions {
  /** App module (path to compiled JS); the sample site when omitted. */
  app?: string;
  /** A config file path, or a config document (merged over the default) written to a temp file. */
  config?: string | Record<string, unknown>;
  /** Extra environment for the child; PORT defaults to '0' (any free port). */
  env?: Record<string, string>;
  /** How long to wait for "listening" and 'ready', in ms. */
  startTimeout?: number;
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
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

/** Environment that would make a test worker read something other than what the test gave it. */
const INHERITED_OUT = [
  'GATEHOUSE_CONFIG',
  'PORT',
  'HOST',
  'NODE_APP_INSTANCE',
  'pm_id',
  'NODE_OPTIONS',
  'NODE_TEST_CONTEXT',
];

/** This process's environment minus what would steer a worker, with PORT=0 and `extra` on top. */
export function workerProcessEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of INHERITED_OUT) delete env[name];
  return Object.assign(env, { PORT: '0' }, extra);
}

const live = new Set<ChildProcess>();
// A test run that dies (assertion in a hook, Ctrl-C) must not leave workers holding ports.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Starts `node bin/gatehouse.js worker` as a real child process with an IPC channel (as pm2 does)
 * and resolves once it logged "listening" with its port and sent 'ready'. Rejects with the
 * worker's output if it exits first or does not get there within `startTimeout`.
 */
export function startWorker(options: StartWorkerOptions = {}): Promise<WorkerProcess> {
  const { app, config, env = {}, startTimeout = 15_000 } = options;
  let tempDir: string | null = null;
  const args = ['worker'];
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
  const child = fork(gatehouseBin, args, {
    cwd: packageRoot,
    env: workerProcessEnv(env),
    execArgv: [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  live.add(child);

  const logs: LogLine[] = [];
  const watchers = new Set<(line: LogLine) => void>();
  let stderr = '';
  let stdoutRest = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  // A failed spawn or a lost IPC channel is reported through the output, not as a crash of the test run.
  child.on('error', (err) => {
    stderr += `\n[gatehouse test helper] ${err.message}\n`;
  });
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    const lines = (stdoutRest + text).split('\n');
    stdoutRest = lines.pop()!;
    for (const raw of lines) {
      if (raw.trim() === '') continue;
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        line = { msg: raw, raw: true };
      }
      logs.push(line);
      for (const watch of watchers) watch(line);
    }
  });

  const exited = new Promise<StopResult>((resolve) => {
    // 'close', not 'exit': by then stdout is read to the end, so the logs are complete.
    child.once('close', (code, signal) => {
      live.delete(child);
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      resolve({ code, signal });
    });
  });

  function waitForLog(predicate: (line: LogLine) => boolean, timeout = 10_000): Promise<LogLine> {
    const seen = logs.find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        watchers.delete(watch);
        reject(new Error(`no matching log line within ${timeout} ms; logged:\n${describe()}`));
      }, timeout);
      const watch = (line: LogLine) => {
        if (!predicate(line)) return;
        clearTimeout(timer);
        watchers.delete(watch);
        resolve(line);
      };
      watchers.add(watch);
    });
  }

  let stopping: Promise<StopResult> | null = null;
  function stop({
    signal = 'SIGTERM',
    timeout = 15_000,
  }: {
    signal?: NodeJS.Signals;
    timeout?: number;
  } = {}) {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    })();
    return stopping;
  }

  function describe(): string {
    const out = logs.map((l) => JSON.stringify(l)).join('\n');
    return `stdout:\n${out}${stdoutRest}\nstderr:\n${stderr}`;
  }

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
      resolve({ port, child, logs, stderr: () => stderr, exited, waitForLog, stop });
    };
    child.on('message', (message) => {
      if (message !== 'ready') return;
      ready = true;
      settle();
    });
    const listening = (line: LogLine) => {
      if (line.msg !== 'listening' || typeof line.port !== 'number') return;
      watchers.delete(listening);
      port = line.port;
      settle();
    };
    watchers.add(listening);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      watchers.delete(listening);
      // A no-op once resolved; otherwise the worker died before it was up.
      reject(new Error(`worker exited (code ${code}, signal ${signal}) before it was ready\n${describe()}`));
    });
  });
}
