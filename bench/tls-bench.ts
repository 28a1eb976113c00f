import type { TlsConfig } from '../config/index.js';
import { makeCa, makeLeaf } from '../test/helpers/openssl-certs.js';
import { which } from '../test/helpers/system-deps.js';
import { startBackend } from './backends.js';
import { runH2load } from './load/h2load.js';
import { runWrk } from './load/wrk.js';
import type { BenchOptions } from './options.js';
import { cpuMicros, processTree } from './proc-stat.js';
import type { PhaseContext } from './rounds.js';
import { fixed, median } from './stats.js';
import { type RunningTlsFront, TLS_FRONT_IDS, TLS_FRONTS, type TlsFrontId } from './tls-fronts.js';

// `npm run bench -- --tls`: each front over TLS, one process each, in front of the minimal backend.
// Three loads, interleaved by round: HTTP/1.1 keep-alive (wrk), HTTP/2 (h2load), and a new TLS
// connection per request (wrk with Connection: close: handshakes per second, full handshakes,
// as wrk does not resume sessions).

export type TlsLoadId = 'h1-keepalive' | 'h2' | 'handshakes';

interface TlsLoad {
  id: TlsLoadId;
  label: string;
  tool: 'wrk' | 'h2load';
}

const TLS_LOADS: readonly TlsLoad[] = [
  { id: 'h1-keepalive', label: 'HTTP/1.1 keep-alive, 50 connections, req/s', tool: 'wrk' },
  { id: 'h2', label: 'HTTP/2, 20 connections x 5 streams, 18000 requests, req/s', tool: 'h2load' },
  { id: 'handshakes', label: 'new connection per request (handshakes/s), 50 connections', tool: 'wrk' },
];

export interface TlsSample {
  round: number;
  load: TlsLoadId;
  front: TlsFrontId;
  requests: number;
  rps: number;
  /** The front's CPU time (its process tree, user + system) per request; null without a pid. */
  cpuPerRequest: number | null;
  /** Failed requests, non-2xx answers and socket errors. */
  errors: number;
}

export interface TlsRow {
  load: TlsLoadId;
  label: string;
  tool: string;
  /** Median req/s per front; null when the front did not run. */
  rps: Record<TlsFrontId, number | null>;
  /** gatehouse / nginx. */
  ratio: number | null;
  /** Median CPU µs per request per front. */
  cpu: Record<TlsFrontId, number | null>;
  /**
   * nginx's CPU per request / ours: the share of nginx's economy we reach. Steadier than req/s on a
   * shared machine (a burst of someone else's work slows a round, but costs the front little CPU),
   * and what req/s comes to once a front has a core to itself.
   */
  cpuRatio: number | null;
  /** bare Node / nginx: the most a Node front can reach on this machine. */
  ceiling: number | null;
  errors: number;
}

export interface TlsBenchResult {
  samples: TlsSample[];
  rows: TlsRow[];
  skipped: Partial<Record<TlsFrontId, string>>;
}

/** The tls section both fronts run: one certificate (from a CA made for the run), HTTP/2 on. */
function benchTls(dir: string): (port: number) => TlsConfig {
  const ca = makeCa(dir, 'gatehouse bench CA');
  const leaf = makeLeaf(dir, 'bench', ca, ['localhost', '127.0.0.1']);
  return (port) => ({
    listen: { host: '127.0.0.1', port },
    certificates: [leaf],
    minVersion: 'TLSv1.2',
    http2: true,
    redirectHttp: false,
    hsts: 0,
    acme: null,
  });
}

async function measure(
  load: TlsLoad,
  front: RunningTlsFront,
  options: BenchOptions,
  ctx: PhaseContext,
  h2load: string,
): Promise<{ requests: number; rps: number; cpuPerRequest: number | null; errors: number }> {
  const pids = front.pid === null ? [] : processTree(front.pid);
  const cpuBefore = cpuMicros(pids);
  const result = await drive(load, front, options, ctx, h2load);
  const cpu = cpuMicros(pids) - cpuBefore;
  const cpuPerRequest = pids.length > 0 && result.requests > 0 ? cpu / result.requests : null;
  return { ...result, cpuPerRequest };
}

/** One burst of `load` against `front`. */
async function drive(
  load: TlsLoad,
  front: RunningTlsFront,
  options: BenchOptions,
  ctx: PhaseContext,
  h2load: string,
): Promise<{ requests: number; rps: number; errors: number }> {
  const url = `${front.url}/`;
  const duration = options.duration;
  if (load.tool === 'h2load') {
    const result = await runH2load(h2load, url, { connections: 20, streams: 5, timeout: 120 });
    return { requests: result.requests, rps: result.rps, errors: result.failed + result.non2xx };
  }
  const extra = load.id === 'handshakes' ? ['-H', 'Connection: close'] : [];
  const run = { url, connections: 50, method: 'GET' as const, bodyBytes: 0, duration };
  const result = await runWrk(ctx.tools.wrk!, run, ctx.dir, extra);
  return { requests: result.requests, rps: result.rps, errors: result.non2xx + result.socketErrors };
}

export async function runTlsBench(options: BenchOptions, ctx: PhaseContext): Promise<TlsBenchResult> {
  const h2load = which('h2load');
  if (!ctx.tools.wrk || !h2load)
    throw new Error(
      `--tls needs wrk and h2load (nghttp2-client); missing: ${[ctx.tools.wrk ? '' : 'wrk', h2load ? '' : 'h2load'].filter(Boolean).join(', ')} (npm run setup installs them)`,
    );
  const tls = benchTls(ctx.dir);
  const backend = await startBackend('hello', ctx.dir);
  const fronts = new Map<TlsFrontId, RunningTlsFront>();
  const skipped: Partial<Record<TlsFrontId, string>> = {};
  const samples: TlsSample[] = [];
  try {
    for (const id of TLS_FRONT_IDS) {
      const why = TLS_FRONTS[id].unavailable();
      if (why) {
        skipped[id] = why;
        continue;
      }
      fronts.set(id, await TLS_FRONTS[id].start({ upstream: backend.upstream, dir: ctx.dir }, tls));
    }
    for (const front of fronts.values()) {
      ctx.log(`warming up ${front.id} over TLS`);
      await measure(TLS_LOADS[0]!, front, { ...options, duration: 1 }, ctx, h2load);
    }
    for (let round = 1; round <= options.rounds; round++) {
      for (const load of TLS_LOADS) {
        for (const front of fronts.values()) {
          const result = await measure(load, front, options, ctx, h2load);
          ctx.log(
            `round ${round} ${load.id} ${front.id}: ${fixed(result.rps, 0)} req/s, ${result.cpuPerRequest === null ? '—' : fixed(result.cpuPerRequest, 0)} CPU µs/request, ${result.errors} errors`,
          );
          samples.push({ round, load: load.id, front: front.id, ...result });
        }
      }
    }
  } finally {
    for (const front of fronts.values()) await front.stop();
    await backend.process.stop();
  }
  return { samples, rows: tlsRows(samples), skipped };
}

/**
 * The table's rows: the median req/s of each front per load, and the ratios to nginx's taken
 * within each round, then their median (as the main table does): on a shared machine a round's
 * fronts run minutes apart at most, while rounds differ by 2-3x.
 */
export function tlsRows(samples: readonly TlsSample[]): TlsRow[] {
  return TLS_LOADS.map((load) => {
    const ofLoad = samples.filter((s) => s.load === load.id);
    const of = (front: TlsFrontId) => {
      const values = ofLoad.filter((s) => s.front === front).map((s) => s.rps);
      return values.length > 0 ? median(values) : null;
    };
    const cpuOf = (front: TlsFrontId) => {
      const values = ofLoad.flatMap((s) =>
        s.front === front && s.cpuPerRequest !== null ? [s.cpuPerRequest] : [],
      );
      return values.length > 0 ? median(values) : null;
    };
    /** The median over rounds of `ratio(sample, nginx's sample of the same round)`. */
    const withinRounds = (front: TlsFrontId, ratio: (s: TlsSample, nginx: TlsSample) => number | null) => {
      const ratios = ofLoad.flatMap((s) => {
        if (s.front !== front) return [];
        const nginx = ofLoad.find((n) => n.front === 'nginx' && n.round === s.round);
        const value = nginx ? ratio(s, nginx) : null;
        return value === null ? [] : [value];
      });
      return ratios.length > 0 ? median(ratios) : null;
    };
    const toNginx = (front: TlsFrontId) =>
      withinRounds(front, (s, nginx) => (nginx.rps > 0 ? s.rps / nginx.rps : null));
    return {
      load: load.id,
      label: load.label,
      tool: load.tool,
      rps: { gatehouse: of('gatehouse'), nginx: of('nginx'), node: of('node') },
      ratio: toNginx('gatehouse'),
      cpu: { gatehouse: cpuOf('gatehouse'), nginx: cpuOf('nginx'), node: cpuOf('node') },
      cpuRatio: withinRounds('gatehouse', (s, nginx) =>
        s.cpuPerRequest && nginx.cpuPerRequest !== null ? nginx.cpuPerRequest / s.cpuPerRequest : null,
      ),
      ceiling: toNginx('node'),
      errors: samples.filter((s) => s.load === load.id).reduce((sum, s) => sum + s.errors, 0),
    };
  });
}

/** The table printed at the end, in Markdown (it goes into the closing note as is). */
export function formatTlsTable(result: TlsBenchResult): string {
  const n = (value: number | null, digits: number) => (value === null ? '—' : fixed(value, digits));
  const lines = [
    '| load (tool) | gatehouse | nginx | ratio (aim ≥ 0.5) | bare Node | bare Node / nginx | CPU µs/request gatehouse | nginx | nginx / gatehouse CPU | errors |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...result.rows.map(
      (row) =>
        `| ${row.label} (${row.tool}) | ${n(row.rps.gatehouse, 0)} | ${n(row.rps.nginx, 0)} | ${n(row.ratio, 2)} | ${n(row.rps.node, 0)} | ${n(row.ceiling, 2)} | ${n(row.cpu.gatehouse, 0)} | ${n(row.cpu.nginx, 0)} | ${n(row.cpuRatio, 2)} | ${row.errors} |`,
    ),
    '',
    "bare Node: node's TLS and HTTP/2 servers answering by themselves (no proxying), one process — the ceiling of a Node front here.",
    "CPU µs/request: the front's user + system time over the requests it answered; nginx / gatehouse CPU is the share of",
    "nginx's economy we reach, steadier than req/s when other work shares the machine (medians of within-round ratios).",
  ];
  for (const [id, why] of Object.entries(result.skipped)) lines.push('', `${id}: not measured — ${why}`);
  return lines.join('\n');
}
