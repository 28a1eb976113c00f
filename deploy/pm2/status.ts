import type { Address, Config } from '../../config/index.js';
import { formatAddress } from '../../config/index.js';
import type { StatusSnapshot, UpstreamStatus } from '../../stack/status.js';
import { textTable } from '../text-table.js';
import { daemonPid, defaultPm2Home, listPm2Processes, type Pm2ProcessInfo, stackPm2Home } from './daemon.js';
import { PROXY_APP, WORKER_APP } from './ecosystem.js';

/** One worker: pm2's view and the proxy's view side by side, matched by port. */
export interface WorkerStatusRow {
  port: number | null;
  /** null when pm2 does not run a process on this port (an upstream from elsewhere). */
  pm2: Pm2ProcessInfo | null;
  /** null when the proxy does not balance over this port, or did not answer. */
  upstream: UpstreamStatus | null;
}

export interface StackStatus {
  pm2: { home: string; running: boolean; error: string | null; proxy: Pm2ProcessInfo[] };
  proxy: { url: string; reachable: boolean; error: string | null; snapshot: StatusSnapshot | null };
  workers: WorkerStatusRow[];
}

export interface CollectStatusOptions {
  config: Config;
  /** The pm2 home to ask; by default the one `gatehouse up` uses if its daemon runs, else pm2's own. */
  pm2Home?: string | null;
  timeout?: number;
}

/** The address to connect to for a listener bound to `address` (a wildcard means this host). */
export function connectAddress({ host, port }: Address): string {
  const local = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return formatAddress({ host: local, port });
}

export function statusUrl(config: Config): string {
  return `http://${connectAddress(config.status.listen)}/status`;
}

/** Which PM2_HOME to ask when none was given: `gatehouse up`'s if it runs, else pm2's default. */
export function pickPm2Home(explicit?: string | null): string {
  if (explicit) return explicit;
  const home = stackPm2Home();
  return daemonPid(home) !== null ? home : defaultPm2Home();
}

/** Asks pm2 and the proxy's status listener at once; either may be down, and says so. */
export async function collectStatus(options: CollectStatusOptions): Promise<StackStatus> {
  const { config, timeout = 3000 } = options;
  const home = pickPm2Home(options.pm2Home);
  const url = statusUrl(config);
  let pm2Error: string | null = null;
  const [processes, proxy] = await Promise.all([
    // A daemon that does not answer is reported like one that is not there, with the reason.
    listPm2Processes(home).catch((err: Error) => {
      pm2Error = err.message;
      return null;
    }),
    fetchSnapshot(url, timeout, config.status.token),
  ]);
  return {
    pm2: {
      home,
      running: processes !== null,
      error: pm2Error,
      proxy: (processes ?? []).filter((p) => p.name === PROXY_APP),
    },
    proxy: { url, ...proxy },
    workers: joinWorkers(
      (processes ?? []).filter((p) => p.name === WORKER_APP),
      proxy.snapshot,
    ),
  };
}

async function fetchSnapshot(
  url: string,
  timeout: number,
  token: string | null,
): Promise<{ reachable: boolean; error: string | null; snapshot: StatusSnapshot | null }> {
  try {
    const res = await fetch(url, {
      // The same config the proxy reads, so the same status.token it asks for.
      headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      signal: AbortSignal.timeout(timeout),
    });
    if (!res.ok) return { reachable: true, error: `HTTP ${res.status}`, snapshot: null };
    return { reachable: true, error: null, snapshot: (await res.json()) as StatusSnapshot };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return { reachable: false, error: cause?.code ?? (err as Error).name, snapshot: null };
  }
}

/**
 * Pairs each pm2 worker with the upstream on its port. Workers come in pm2's instance order;
 * upstreams no worker listens on (servers from elsewhere, a worker pm2 lost) follow.
 */
export function joinWorkers(
  workers: readonly Pm2ProcessInfo[],
  snapshot: StatusSnapshot | null,
): WorkerStatusRow[] {
  const upstreams = new Map<number, UpstreamStatus>();
  for (const upstream of snapshot?.upstreams ?? []) {
    const port = portOf(upstream.address);
    if (port !== null && !upstreams.has(port)) upstreams.set(port, upstream);
  }
  const rows: WorkerStatusRow[] = [...workers]
    .sort((a, b) => (a.instance ?? a.pmId) - (b.instance ?? b.pmId))
    .map((pm2) => {
      const upstream = pm2.port === null ? null : (upstreams.get(pm2.port) ?? null);
      if (pm2.port !== null) upstreams.delete(pm2.port);
      return { port: pm2.port, pm2, upstream };
    });
  for (const [port, upstream] of upstreams) rows.push({ port, pm2: null, upstream });
  return rows;
}

function portOf(address: string): number | null {
  const match = /:(\d+)$/.exec(address);
  return match ? Number(match[1]) : null;
}

const COLUMNS = [
  'worker',
  'id',
  'port',
  'host',
  'pm2',
  'pid',
  'restarts',
  'memory',
  'uptime',
  'proxy',
  'healthy',
  'in-flight',
  'requests',
  'failures',
] as const;

// Words read best flush left, numbers flush right.
const LEFT_ALIGNED = new Set<string>(['worker', 'id', 'port', 'host', 'proxy']);

/** The table `gatehouse status` prints, with a line each for pm2 and the proxy above it. */
export function renderStatus(status: StackStatus, now: number = Date.now()): string {
  const lines: string[] = [];
  if (!status.pm2.running) {
    const why = status.pm2.error ? ` (${status.pm2.error})` : '';
    lines.push(`pm2: no daemon running under ${status.pm2.home}${why}`);
  } else if (status.pm2.proxy.length === 0) {
    lines.push(`pm2 (${status.pm2.home}): no ${PROXY_APP} process`);
  } else {
    const procs = status.pm2.proxy
      .map(
        (p) =>
          `${p.status} pid ${p.pid || '-'} (id ${p.pmId}, ${p.restarts} restarts, up ${formatUptime(p, now)})`,
      )
      .join('; ');
    lines.push(`pm2 (${status.pm2.home}): ${PROXY_APP} ${procs}`);
  }
  const { proxy } = status;
  if (proxy.snapshot) {
    lines.push(
      `proxy ${proxy.url}: pid ${proxy.snapshot.proxy.pid}, ${proxy.snapshot.proxy.requests} requests since ${proxy.snapshot.proxy.startedAt}`,
    );
  } else {
    lines.push(`proxy ${proxy.url}: unreachable (${proxy.error ?? 'no answer'}); showing pm2's view only`);
  }
  const dash = '-';
  const table = status.workers.map((row) => {
    const p = row.pm2;
    const u = row.upstream;
    return [
      p ? p.name : dash,
      p ? String(p.pmId) : dash,
      row.port === null ? dash : String(row.port),
      // The worker's own word, from its health answers: which machine or container serves the port.
      u?.worker ? u.worker.hostname : dash,
      p ? p.status : 'not in pm2',
      p?.pid ? String(p.pid) : dash,
      p ? String(p.restarts) : dash,
      p?.memory ? formatBytes(p.memory) : dash,
      p ? formatUptime(p, now) : dash,
      u ? (u.draining ? 'draining' : u.state) : proxy.snapshot ? 'not in pool' : dash,
      u ? (u.healthy ? 'yes' : 'no') : dash,
      u ? String(u.inFlight) : dash,
      u ? String(u.requests) : dash,
      u ? String(u.failures) : dash,
    ];
  });
  if (table.length === 0) {
    lines.push('no workers');
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    '',
    textTable(COLUMNS, table, (i) => !LEFT_ALIGNED.has(COLUMNS[i]!)),
  );
  return `${lines.join('\n')}\n`;
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** pm2's own uptime style: 45s, 12m, 3h, 2D; '-' when the process is not running. */
export function formatUptime(process: Pm2ProcessInfo, now: number): string {
  if (process.status !== 'online' || process.startedAt === null) return '-';
  const seconds = Math.max(0, Math.floor((now - process.startedAt) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}D`;
}
