import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, loadConfig } from '../../config/index.js';
import { answers, freePort } from './net.js';

export { freePort };

/** A config read through the real loader (from a file) from a document merged over the default. */
export function configFrom(raw: Record<string, unknown>): Config {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
  try {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, JSON.stringify(raw));
    return loadConfig({ file, env: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface NginxPrefix {
  dir: string;
  /** The main nginx.conf, which includes the snippet inside http {}. */
  conf: string;
  snippet: string;
  errorLog: string;
  accessLog: string;
  remove(): void;
}

/**
 * The snippet without its temp path directives, so the prefix's own (in its http {}) apply. The
 * rendered ones are under buffering.temp_path, by default <os tmpdir>/gatehouse-buffers: nginx will
 * not start while that folder is missing, and a test must neither make nor share it.
 */
function withoutTempPaths(snippet: string): string {
  return snippet.replace(/^\s*(client_body_temp_path|proxy_temp_path) [^;]*;\n/gm, '');
}

/**
 * A private nginx prefix in a temp dir: a main nginx.conf of our own (pid, logs and every temp path
 * inside the dir), the rendered snippet included in http {} as the stock nginx.conf includes conf.d.
 * `keepTempPaths`: the snippet's temp paths stay (their folder is the caller's, existing, and open to
 * nobody); otherwise they are left out for the prefix's.
 */
export function createNginxPrefix(snippet: string, options: { keepTempPaths?: boolean } = {}): NginxPrefix {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-nginx-'));
  // Run as root, nginx's workers drop to nobody: they must be able to enter the dir.
  chmodSync(dir, 0o755);
  const file = (name: string) => join(dir, name);
  const conf = file('nginx.conf');
  writeFileSync(file('gatehouse.conf'), options.keepTempPaths ? snippet : withoutTempPaths(snippet));
  writeFileSync(
    conf,
    [
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      `pid ${file('nginx.pid')};`,
      `error_log ${file('error.log')} info;`,
      'events { worker_connections 512; }',
      'http {',
      `    access_log ${file('access.log')};`,
      `    client_body_temp_path ${file('client_body_temp')};`,
      `    proxy_temp_path ${file('proxy_temp')};`,
      `    fastcgi_temp_path ${file('fastcgi_temp')};`,
      `    include ${file('gatehouse.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  return {
    dir,
    conf,
    snippet: file('gatehouse.conf'),
    errorLog: file('error.log'),
    accessLog: file('access.log'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** nginx on PATH (Debian's nginx-light; `npm run setup` installs it). Tests that start it declare `requires('nginx')`. */
const NGINX = 'nginx';

function args(prefix: NginxPrefix): string[] {
  return ['-p', `${prefix.dir}/`, '-c', prefix.conf, '-e', prefix.errorLog];
}

/**
 * Real `nginx -t` on a rendered snippet: exit status and what nginx said. The snippet's temp paths
 * are kept (nginx -t makes them): their folder must exist.
 */
export function nginxTest(snippet: string): { ok: boolean; output: string } {
  const prefix = createNginxPrefix(snippet, { keepTempPaths: true });
  try {
    const result = spawnSync(NGINX, ['-t', ...args(prefix)], { encoding: 'utf8', timeout: 10_000 });
    if (result.error) throw result.error;
    return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
  } finally {
    prefix.remove();
  }
}

export interface RunningNginx {
  prefix: NginxPrefix;
  pid: number;
  /** The error log so far, for assertion messages. */
  errors(): string;
  /** Stops nginx (TERM, then KILL) and waits for the master to exit; removes the prefix. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

const live = new Set<ChildProcess>();
// A run that dies (Ctrl-C, a throw in a hook) must not leave nginx holding ports: TERM makes the
// master stop its workers too, even after this process is gone.
process.once('exit', () => {
  for (const child of live) child.kill('SIGTERM');
});

/**
 * Starts real nginx in the foreground on a rendered snippet, waits until `port` answers, and
 * returns a handle whose stop() must run pass or fail (t.after / finally).
 */
export async function startNginx(options: {
  snippet: string;
  port: number;
  timeout?: number;
  /** The snippet's temp paths are used as rendered (see createNginxPrefix). */
  keepTempPaths?: boolean;
}): Promise<RunningNginx> {
  const { snippet, port, timeout = 10_000, keepTempPaths = false } = options;
  const prefix = createNginxPrefix(snippet, { keepTempPaths });
  const child = spawn(NGINX, args(prefix), { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const errors = () => {
    let log = '';
    try {
      log = readFileSync(prefix.errorLog, 'utf8');
    } catch {}
    return `${stderr}${log}`;
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited(child);
      clearTimeout(timer);
    }
    prefix.remove();
  };
  const deadline = Date.now() + timeout;
  while (!(await answers(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const why = child.exitCode !== null ? `exited with ${child.exitCode}` : `did not answer on ${port}`;
      const log = errors();
      await stop();
      throw new Error(`nginx ${why}:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { prefix, pid: child.pid ?? 0, errors, stop };
}
