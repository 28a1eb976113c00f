import { type ChildProcess, fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../config/index.js';

/** The CLI entry gatehouse's processes run, as users and pm2 start them. */
export const gatehouseBin = join(packageRoot, 'bin', 'gatehouse.js');

/** One JSON log line (pino); lines that are not JSON (the access log on stdout) carry `raw`. */
export interface LogLine {
  msg?: string;
  level?: number;
  raw?: string;
  [key: string]: unknown;
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Environment that would make a child read something other than what the test gave it. */
const INHERITED_OUT = [
  'GATEHOUSE_CONFIG',
  'PORT',
  'HOST',
  'NODE_APP_INSTANCE',
  'pm_id',
  'NODE_OPTIONS',
  'NODE_TEST_CONTEXT',
];

/** This process's environment minus what would steer a child (and `alsoOut`), `extra` on top. */
export function childEnv(extra: NodeJS.ProcessEnv = {}, alsoOut: readonly string[] = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [...INHERITED_OUT, ...alsoOut]) delete env[name];
  return Object.assign(env, extra);
}

/** Splits stdout text into lines, JSON-parsed where they are JSON objects. */
export function collectLines(onLine: (line: LogLine) => void): (text: string) => void {
  let rest = '';
  return (text) => {
    const lines = (rest + text).split('\n');
    rest = lines.pop()!;
    for (const raw of lines) {
      if (raw.trim() === '') continue;
      let line: LogLine;
      try {
        const parsed = JSON.parse(raw) as unknown;
        line =
          typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
            ? (parsed as LogLine)
            : { raw };
      } catch {
        line = { raw };
      }
      onLine(line);
    }
  };
}

export interface LogBook {
  readonly lines: LogLine[];
  push(line: LogLine): void;
  /** The first line from index `from` on (already logged or still to come) that matches. */
  waitFor(predicate: (line: LogLine) => boolean, timeout?: number, from?: number): Promise<LogLine>;
  dump(): string;
  /** Told every line as it comes. */
  readonly listeners: Set<(line: LogLine) => void>;
}

/** A growing log with "wait for the first line that matches". */
export function createLogBook(): LogBook {
  const lines: LogLine[] = [];
  const watchers = new Set<(line: LogLine) => void>();
  const listeners = new Set<(line: LogLine) => void>();
  function push(line: LogLine): void {
    lines.push(line);
    for (const watch of [...watchers, ...listeners]) watch(line);
  }
  function waitFor(predicate: (line: LogLine) => boolean, timeout = 10_000, from = 0): Promise<LogLine> {
    const seen = lines.slice(from).find(predicate);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        watchers.delete(watch);
        reject(new Error(`no matching log line within ${timeout} ms; logged:\n${dump()}`));
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
  function dump(): string {
    return lines.map((l) => l.raw ?? JSON.stringify(l)).join('\n');
  }
  return { lines, push, waitFor, dump, listeners };
}

export interface GatehouseChild {
  child: ChildProcess;
  /** Its stdout, line by line. */
  book: LogBook;
  stderr(): string;
  /** Settles when the process has exited and its output is read to the end. */
  exited: Promise<StopResult>;
  /**
   * Sends `signal` (SIGTERM: drain and exit), waits up to `timeout` ms, then SIGKILLs. Always leaves
   * the process dead; safe to call twice and after the process exited.
   */
  stop(options?: { signal?: NodeJS.Signals; timeout?: number }): Promise<StopResult>;
  /** Its stdout and stderr so far, for error messages. */
  describe(): string;
}

const live = new Set<ChildProcess>();
// A test run that dies (assertion in a hook, Ctrl-C) must not leave children holding ports.
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** SIGKILLs `child` if this test process exits first; call the result once the child is gone. */
export function killOnExit(child: ChildProcess): () => void {
  live.add(child);
  return () => live.delete(child);
}

/**
 * `node bin/gatehouse.js ARGS` as a real child process with an IPC channel (as pm2 runs it), its
 * output collected. `tempDir`, if given, is removed once the process is gone; `cwd` is where it
 * runs (a relative app module or config file is taken from there).
 */
export function forkGatehouse(
  args: string[],
  env: NodeJS.ProcessEnv,
  tempDir: string | null = null,
  cwd: string = packageRoot,
): GatehouseChild {
  const child = fork(gatehouseBin, args, {
    cwd,
    env,
    execArgv: [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const forget = killOnExit(child);
  const book = createLogBook();
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  // A failed spawn or a lost IPC channel is reported through the output, not as a crash of the test run.
  child.on('error', (err) => {
    stderr += `\n[gatehouse test helper] ${err.message}\n`;
  });
  child.stdout!.setEncoding('utf8').on('data', collectLines(book.push));
  const exited = new Promise<StopResult>((resolve) => {
    // 'close', not 'exit': by then stdout is read to the end, so the logs are complete.
    child.once('close', (code, signal) => {
      forget();
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      resolve({ code, signal });
    });
  });
  let stopping: Promise<StopResult> | null = null;
  const stop = ({
    signal = 'SIGTERM',
    timeout = 15_000,
  }: {
    signal?: NodeJS.Signals;
    timeout?: number;
  } = {}) => {
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
  };
  return {
    child,
    book,
    stderr: () => stderr,
    exited,
    stop,
    describe: () => `stdout:\n${book.dump()}\nstderr:\n${stderr}`,
  };
}
