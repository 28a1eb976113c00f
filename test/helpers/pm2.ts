import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot } from '../../config/index.js';
import { PROXY_APP, WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import type { StatusSnapshot } from '../../stack/status.js';
import { childEnv, collectLines, type LogLine } from './child.js';
import { explainFailures, type LoadResult } from './load.js';
import { waitFor } from './wait.js';

/** The local pm2 CLI (node_modules), never a global one. */
export const pm2Bin = join(packageRoot, 'node_modules', 'pm2', 'bin', 'pm2');
export const ecosystemFile = join(packageRoot, 'ecosystem.config.cjs');

import { freePortRange } from './net.js';

export { freePortRange };

/** One process as `pm2 jlist` describes it (the fields the tests read). */
export interface Pm2Process {
  name: string;
  pm_id: number;
  pid: number;
  pm2_env: {
    status: string;
    restart_time: number;
    exec_mode: string;
    GATEHOUSE_WORKER_PORT_BASE?: string | number;
    NODE_APP_INSTANCE?: number;
    pm_uptime?: number;
    unstable_restarts?: number;
  };
  monit?: { memory: number; cpu: number };
}

/** The port a worker of the ecosystem listens on, as pm2's list says it: base + instance. */
export function workerPortOf(p: Pm2Process): number {
  return Number(p.pm2_env.GATEHOUSE_WORKER_PORT_BASE) + Number(p.pm2_env.NODE_APP_INSTANCE);
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
  /** The proxy's JSON log lines so far (its stdout as pm2 kept it), oldest first. */
  proxyLog(): LogLine[];
  /** Each failed request of a load (the first `limit`, 20 by default), what it had received, and what the proxy logged about it. */
  explain(failed: readonly LoadResult[], limit?: number): string;
  /** `pm2 kill`, then SIGKILL for whatever survived, and the temp dir removed. Safe to call twice. */
  destroy(): Promise<void>;
}

export interface SandboxOptions {
  /** Config document merged over the default; listen, status and worker ports are filled in. */
  config?: Record<string, unknown>;
  workers?: number;
  /**
   * Keep ports free for this many workers in all (default `workers`): `pm2 scale` starts instances
   * with the next NODE_APP_INSTANCE numbers, and they listen on workers.port + instance.
   */
  maxWorkers?: number;
}

/**
 * A private pm2: its own PM2_HOME in a temp dir and a config file with free ports, so a test
 * neither meets the user's pm2 nor another test's ports.
 */
export async function createPm2Sandbox(options: SandboxOptions = {}): Promise<Pm2Sandbox> {
  const workers = options.workers ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'gh-pm2-'));
  // One block for all: the proxy, its status listener, then the workers (worker i on workerPort + i).
  const listenPort = await freePortRange(Math.max(workers, options.maxWorkers ?? 0) + 2);
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
          const lines = collapseRepeats(readFileSync(join(dir, 'home', file), 'utf8').split('\n'));
          return `--- ${file}\n${lines.slice(-60).join('\n')}`;
        } catch {
          return `--- ${file}: none`;
        }
      })
      .join('\n');
  }

  function proxyLog(): LogLine[] {
    let text = '';
    try {
      text = readFileSync(join(dir, 'home', 'logs', 'gatehouse-proxy-out.log'), 'utf8');
    } catch {}
    const lines: LogLine[] = [];
    collectLines((line) => lines.push(line))(`${text}\n`);
    return lines;
  }

  function explain(failed: readonly LoadResult[], limit = 20): string {
    return explainFailures(failed, proxyLog(), limit);
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
    proxyLog,
    explain,
    destroy,
  };
}

/**
 * A log's lines with each run of lines that differ only in their leading timestamp kept once, with
 * how often and until when it repeated: pm2 writes "failed to kill - retrying" ten times a second
 * while a process drains, and those would push everything else out of a failure message.
 */
export function collapseRepeats(lines: readonly string[]): string[] {
  const stamp = /^(\S+: )?/;
  const out: string[] = [];
  let last = '';
  let repeats = 0;
  let until = '';
  const flush = () => {
    if (repeats > 0)
      out.push(`  (the line above ${repeats} more times${until ? `, the last at ${until}` : ''})`);
    repeats = 0;
  };
  for (const line of lines) {
    const at = stamp.exec(line)?.[1] ?? '';
    const body = line.slice(at.length);
    if (body === last && out.length > 0) {
      repeats++;
      until = at.slice(0, -2);
      continue;
    }
    flush();
    out.push(line);
    last = body;
  }
  flush();
  return out;
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

export { waitFor };

/** pm2's processes of one app, by pm_id. */
export function byId(processes: Pm2Process[], name: string): Map<number, Pm2Process> {
  return new Map(processes.filter((p) => p.name === name).map((p) => [p.pm_id, p]));
}

/**
 * What keeps `now` (pm2's list) from showing every process of `before` replaced: a new pid,
 * online, restarted exactly once more than before. Null when nothing does.
 */
export function notReplaced(before: Map<number, Pm2Process>, now: readonly Pm2Process[]): string | null {
  const current = new Map(now.map((p) => [p.pm_id, p]));
  const done = [...before].every(([id, old]) => {
    const p = current.get(id);
    return (
      p &&
      p.pid > 0 &&
      p.pid !== old.pid &&
      p.pm2_env.status === 'online' &&
      p.pm2_env.restart_time === old.pm2_env.restart_time + 1
    );
  });
  if (done) return null;
  const state = (p: Pm2Process | undefined) =>
    p ? `${p.pm2_env.status} pid ${p.pid} restarts ${p.pm2_env.restart_time}` : 'gone';
  return [...before]
    .map(([id, old]) => `pm_id ${id}: was ${state(old)}, now ${state(current.get(id))}`)
    .join('; ');
}

/** Waits until every process of `before` is replaced (see notReplaced, whose answer is the error). */
export async function replaced(
  sb: Pm2Sandbox,
  name: string,
  before: Map<number, Pm2Process>,
  timeout = 60_000,
): Promise<void> {
  await waitFor(
    `${name} replaced`,
    async () => {
      const why = notReplaced(before, await sb.list());
      if (why) throw new Error(why);
      return true;
    },
    timeout,
  );
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

/**
 * `pm2 start ecosystem.config.cjs --env production` in the sandbox; resolves once its `workers`
 * workers and the proxy are online and the proxy has every worker up.
 */
export async function startStack(sb: Pm2Sandbox, workers: number): Promise<void> {
  const started = await sb.pm2(['start', ecosystemFile, '--env', 'production']);
  if (started.code !== 0)
    throw new Error(`pm2 start failed (${started.code}):\n${started.stdout}\n${started.stderr}`);
  await sb.waitOnline(WORKER_APP, workers);
  await sb.waitOnline(PROXY_APP, 1);
  await allUpstreamsUp(sb.statusUrl, workers);
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
