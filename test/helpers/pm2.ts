import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot } from '../../config/index.js';
import type { StatusSnapshot } from '../../stack/status.js';
import { childEnv } from './child.js';

/** The local pm2 CLI (node_modules), never a global one. */
export const pm2Bin = join(packageRoot, 'node_modules', 'pm2', 'bin', 'pm2');
export const ecosystemFile = join(packageRoot, 'ecosystem.config.cjs');

/**
 * A block of `count` consecutive free ports, for the workers (worker i listens on port + i).
 * Probed by binding each one; a range that is taken is skipped.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below the usual ephemeral range (32768+), where outgoing connections could take a port first.
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const held: import('node:net').Server[] = [];
    let ok = true;
    for (const port of ports) {
      const server = createServer();
      const bound = await new Promise<boolean>((resolve) => {
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (!bound) {
        ok = false;
        break;
      }
      held.push(server);
    }
    await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

/** One process as `pm2 jlist` describes it (the fields the tests read). */
export interface Pm2Process {
  name: string;
  pm_id: number;
  pid: number;
  pm2_env: {
    status: string;
    restart_time: number;
    exec_mode: string;
    PORT?: string | number;
    NODE_APP_INSTANCE?: number;
    pm_uptime?: number;
    unstable_restarts?: number;
  };
  monit?: { memory: number; cpu: number };
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Pm2Sandbox {
  /** PM2_HOME: the daemon's sockets, pid file and logs, all inside the temp dir. */
  home: string;
  configFile: string;
  /** Environment for anything that must talk to this sandbox's daemon. */
  env: NodeJS.ProcessEnv;
  proxyUrl: string;
  statusUrl: string;
  workerPorts: number[];
  /** Runs the local pm2 CLI against this sandbox. */
  pm2(args: string[], timeout?: number): Promise<CommandResult>;
  /** `pm2 jlist`, parsed. */
  list(): Promise<Pm2Process[]>;
  /** Waits until every process of `name` is online, `count` of them, and returns them. */
  waitOnline(name: string, count: number, timeout?: number): Promise<Pm2Process[]>;
  /** The end of every log pm2 kept, for failure messages. */
  logs(): string;
  /** `pm2 kill`, then SIGKILL for whatever survived, and the temp dir removed. Safe to call twice. */
  destroy(): Promise<void>;
}

export interface SandboxOptions {
  /** Config document merged over the default; listen, status and worker ports are filled in. */
  config?: Record<string, unknown>;
  workers?: number;
}

/**
 * A private pm2: its own PM2_HOME in a temp dir and a config file with free ports, so a test
 * neither meets the user's pm2 nor another test's ports.
 */
export async function createPm2Sandbox(options: SandboxOptions = {}): Promise<Pm2Sandbox> {
  const workers = options.workers ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'gh-pm2-'));
  // One block for all: the proxy, its status listener, then the workers (worker i on workerPort + i).
  const listenPort = await freePortRange(workers + 2);
  const statusPort = listenPort + 1;
  const workerPort = listenPort + 2;
  const configFile = join(dir, 'gatehouse.yaml');
  const document = {
    ...options.config,
    listen: `127.0.0.1:${listenPort}`,
    status: { listen: `127.0.0.1:${statusPort}` },
    workers: { ...(options.config?.workers as object | undefined), count: workers, port: workerPort },
  };
  // JSON is YAML: the document needs no serializer of its own.
  writeFileSync(configFile, JSON.stringify(document, null, 2));
  // Nothing of the user's pm2 (PM2_HOME) or of this run's NODE_ENV reaches the sandbox's daemon.
  const env = childEnv({ PM2_HOME: join(dir, 'home'), GATEHOUSE_CONFIG: configFile }, [
    'PM2_HOME',
    'NODE_ENV',
  ]);
  const seenPids = new Set<number>();

  async function pm2(args: string[], timeout = 60_000): Promise<CommandResult> {
    return run(process.execPath, [pm2Bin, ...args], { env, cwd: packageRoot, timeout });
  }

  async function list(): Promise<Pm2Process[]> {
    const { stdout, code, stderr } = await pm2(['jlist'], 20_000);
    if (code !== 0) throw new Error(`pm2 jlist failed (${code}): ${stderr}`);
    const start = stdout.indexOf('[');
    const processes = JSON.parse(stdout.slice(start)) as Pm2Process[];
    for (const p of processes) if (p.pid) seenPids.add(p.pid);
    return processes;
  }

  async function waitOnline(name: string, count: number, timeout = 30_000): Promise<Pm2Process[]> {
    const deadline = Date.now() + timeout;
    let last: Pm2Process[] = [];
    while (Date.now() < deadline) {
      last = (await list()).filter((p) => p.name === name);
      if (last.length === count && last.every((p) => p.pm2_env.status === 'online' && p.pid > 0)) return last;
      await sleep(200);
    }
    throw new Error(
      `${name}: expected ${count} online, got ${JSON.stringify(last.map((p) => [p.pm_id, p.pm2_env.status, p.pid]))}\n${logs()}`,
    );
  }

  function logs(): string {
    const files = [
      'pm2.log',
      'logs/gatehouse-worker-out.log',
      'logs/gatehouse-worker-error.log',
      'logs/gatehouse-proxy-out.log',
      'logs/gatehouse-proxy-error.log',
    ];
    return files
      .map((file) => {
        try {
          return `--- ${file}\n${readFileSync(join(dir, 'home', file), 'utf8')
            .split('\n')
            .slice(-40)
            .join('\n')}`;
        } catch {
          return `--- ${file}: none`;
        }
      })
      .join('\n');
  }

  let destroyed: Promise<void> | null = null;
  function destroy(): Promise<void> {
    destroyed ??= (async () => {
      try {
        await list();
      } catch {}
      await pm2(['kill'], 30_000).catch(() => undefined);
      for (const pid of [...seenPids, daemonPid(dir)]) {
        if (!pid) continue;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      rmSync(dir, { recursive: true, force: true });
      for (const entry of sandboxes) if (entry.dir === dir) sandboxes.delete(entry);
    })();
    return destroyed;
  }
  sandboxes.add({ dir, pids: seenPids });

  return {
    home: join(dir, 'home'),
    configFile,
    env,
    proxyUrl: `http://127.0.0.1:${listenPort}`,
    statusUrl: `http://127.0.0.1:${statusPort}/status`,
    workerPorts: Array.from({ length: workers }, (_, i) => workerPort + i),
    pm2,
    list,
    waitOnline,
    logs,
    destroy,
  };
}

const sandboxes = new Set<{ dir: string; pids: Set<number> }>();

function daemonPid(dir: string): number | null {
  try {
    return Number(readFileSync(join(dir, 'home', 'pm2.pid'), 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

/** Runs a command to completion (killed after `timeout` ms), collecting its output. */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {},
): Promise<CommandResult> {
  const { env = process.env, cwd = packageRoot, timeout = 60_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The proxy's /status snapshot as JSON; null when the status listener does not answer. */
export async function fetchStatus(statusUrl: string): Promise<StatusSnapshot | null> {
  try {
    const res = await fetch(statusUrl, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(2000),
    });
    return res.ok ? ((await res.json()) as StatusSnapshot) : null;
  } catch {
    return null;
  }
}

/** Polls `probe` until it returns something truthy; throws with `what` after `timeout` ms. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeout = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Every upstream healthy and in rotation, as the proxy itself sees it. */
export function allUpstreamsUp(statusUrl: string, count: number): Promise<StatusSnapshot> {
  return waitFor(`${count} upstreams up`, async () => {
    const snapshot = await fetchStatus(statusUrl);
    return snapshot &&
      snapshot.upstreams.length === count &&
      snapshot.upstreams.every((u) => u.state === 'up')
      ? snapshot
      : null;
  });
}

// --- load ---------------------------------------------------------------------------------------

export interface LoadOptions {
  /** The proxy's base URL. */
  url: string;
  /** Concurrent client connections, each sending one request after another (keep-alive). */
  connections?: number;
  /** Upper bounds: the load stops at whichever comes first (or at stop()). */
  duration?: number;
  maxRequests?: number;
  /** A request without a complete answer within this many ms counts as hung (and is aborted). */
  requestTimeout?: number;
}

export interface LoadResult {
  method: 'GET' | 'POST';
  /** 0 when no response came. */
  status: number;
  /** Why it failed: a transport error code, 'timeout', or 'body mismatch'; undefined when it passed. */
  error?: string;
}

export interface LoadReport {
  total: number;
  failed: number;
  get: { total: number; failed: number };
  post: { total: number; failed: number };
  /** Failures by kind: "502", "ECONNRESET", "timeout", "body mismatch"... */
  failures: Record<string, number>;
  hung: number;
}

export interface LoadRun {
  stop(): Promise<LoadReport>;
  done: Promise<LoadReport>;
}

/**
 * Keeps `connections` clients busy with a mix of `GET /` and `POST /echo` (small bodies, echo
 * checked byte for byte), like a browser and an API client would. Bounded in time and count; every
 * request ends with a status, an error, or a timeout — none is left waiting.
 */
export function startLoad(options: LoadOptions): LoadRun {
  const {
    url,
    connections = 20,
    duration = 15_000,
    maxRequests = 200_000,
    requestTimeout = 15_000,
  } = options;
  const base = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const results: LoadResult[] = [];
  let stopping = false;
  let sent = 0;
  const timer = setTimeout(() => {
    stopping = true;
  }, duration);

  async function loop(id: number): Promise<void> {
    for (let i = 0; !stopping && sent < maxRequests; i++) {
      sent++;
      const post = (i + id) % 2 === 1;
      results.push(post ? await once('POST', `/echo`, `gatehouse ${id}:${i}`) : await once('GET', '/', null));
    }
  }

  function once(method: 'GET' | 'POST', path: string, body: string | null): Promise<LoadResult> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (status: number, error?: string) => {
        if (settled) return;
        settled = true;
        resolve(error ? { method, status, error } : { method, status });
      };
      const req = request(
        {
          host: base.hostname,
          port: base.port,
          path,
          method,
          agent,
          headers:
            body === null ? {} : { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (err: NodeJS.ErrnoException) =>
            finish(res.statusCode ?? 0, err.code ?? err.message),
          );
          res.on('aborted', () => finish(res.statusCode ?? 0, 'aborted'));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status < 200 || status > 299) return finish(status, String(status));
            if (body !== null && Buffer.concat(chunks).toString() !== body)
              return finish(status, 'body mismatch');
            finish(status);
          });
        },
      );
      req.setTimeout(requestTimeout, () => {
        finish(0, 'timeout');
        req.destroy();
      });
      req.on('error', (err: NodeJS.ErrnoException) => finish(0, err.code ?? err.message));
      req.end(body ?? undefined);
    });
  }

  const done = Promise.all(Array.from({ length: connections }, (_, id) => loop(id))).then(() => {
    clearTimeout(timer);
    agent.destroy();
    return summarize(results);
  });

  return {
    stop() {
      stopping = true;
      return done;
    },
    done,
  };
}

/**
 * Load before, during and after `operation`: a second of traffic first, the operation awaited, a
 * second more so whatever it broke shows up. The load stops by itself after `cap` ms in any case.
 */
export async function loadDuring<T>(
  url: string,
  operation: () => Promise<T>,
  { warmup = 1000, cooldown = 1000, cap = 60_000 }: { warmup?: number; cooldown?: number; cap?: number } = {},
): Promise<{ report: LoadReport; value: T }> {
  const load = startLoad({ url, duration: cap });
  try {
    await sleep(warmup);
    const value = await operation();
    await sleep(cooldown);
    return { report: await load.stop(), value };
  } finally {
    await load.stop();
  }
}

export interface SlowPost {
  /** Sends the body; the echo must come back whole. */
  finish(): void;
  /** Settles with the status (0 when none came) and why it failed, if it did. */
  result: Promise<LoadResult>;
}

/**
 * A POST /echo whose head goes out now and whose body waits for finish(): while it waits, the request
 * sits in flight on one worker (the echo answers only once the body comes), the case a crash or a
 * drain has to handle. Bounded by `timeout`, so it can never hang a test.
 */
export function startSlowPost(url: string, body: string, timeout = 20_000): SlowPost {
  const base = new URL(url);
  const req = request({
    host: base.hostname,
    port: base.port,
    path: '/echo',
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) },
  });
  req.flushHeaders();
  const result = new Promise<LoadResult>((resolve) => {
    let settled = false;
    const finish = (status: number, error?: string) => {
      if (settled) return;
      settled = true;
      resolve(error ? { method: 'POST', status, error } : { method: 'POST', status });
    };
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err: NodeJS.ErrnoException) => finish(res.statusCode ?? 0, err.code ?? err.message));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) return finish(status, String(status));
        finish(status, Buffer.concat(chunks).toString() === body ? undefined : 'body mismatch');
      });
      // An early answer (a 502 while the body is still held back) ends the exchange.
      if ((res.statusCode ?? 0) >= 300) req.destroy();
    });
    req.setTimeout(timeout, () => {
      finish(0, 'timeout');
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish(0, err.code ?? err.message));
  });
  return {
    finish() {
      if (!req.destroyed) req.end(body);
    },
    result,
  };
}

export function summarize(results: readonly LoadResult[]): LoadReport {
  const report: LoadReport = {
    total: results.length,
    failed: 0,
    get: { total: 0, failed: 0 },
    post: { total: 0, failed: 0 },
    failures: {},
    hung: 0,
  };
  for (const r of results) {
    const bucket = r.method === 'GET' ? report.get : report.post;
    bucket.total++;
    if (!r.error) continue;
    bucket.failed++;
    report.failed++;
    report.failures[r.error] = (report.failures[r.error] ?? 0) + 1;
    if (r.error === 'timeout') report.hung++;
  }
  return report;
}

/** One line for the test output: what ran and what failed. */
export function describeLoad(what: string, report: LoadReport): string {
  const kinds = Object.entries(report.failures)
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
  return `${what}: ${report.failed} failed of ${report.total} requests (GET ${report.get.failed}/${report.get.total}, POST ${report.post.failed}/${report.post.total})${kinds ? ` — ${kinds}` : ''}`;
}

process.once('exit', () => {
  // A run that dies before its t.after ran (a crash, a kill) must not leave daemons holding ports.
  for (const { dir, pids } of sandboxes) {
    for (const pid of [...pids, daemonPid(dir)]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
