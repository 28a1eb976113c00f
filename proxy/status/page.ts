import { resolve } from 'node:path';
import { Eta } from 'eta';
import { packageRoot } from '../../config/index.js';
import type { StatusSnapshot, UpstreamState, UpstreamStatus } from '../../stack/status.js';

export interface StatusPageOptions {
  /** Seconds between reloads of the page. */
  refreshSeconds?: number;
}

/** What the template shows: every value already formatted, so the template only lays out and escapes. */
export interface StatusPageModel {
  refreshSeconds: number;
  version: string;
  hostname: string;
  pid: number;
  uptime: string;
  startedAt: string;
  requests: string;
  /** Health probes the workers say they answered, all together: they are counted, not logged. */
  healthProbes: string;
  updatedAt: string;
  summary: { text: string; tone: 'ok' | 'warn' | 'bad' };
  upstreams: UpstreamRow[];
  /** The TLS listener's certificates; empty without tls (the section is left out). */
  certificates: CertificateRow[];
}

export interface CertificateRow {
  names: string;
  file: string;
  notAfter: string;
  daysLeft: string;
  tone: 'ok' | 'warn' | 'bad';
}

export interface UpstreamRow {
  /** The route whose pool it is in: the page starts a group at each new one. */
  route: string;
  address: string;
  state: UpstreamState;
  /** Why it is down, or what 'backup' means, in words; empty when up. */
  detail: string;
  /** The worker's host name, or a dash until a health answer named it. */
  worker: string;
  /** Its pid, instance and port, in words; empty when unknown. */
  workerDetail: string;
  healthProbes: string;
  weight: string;
  inFlight: string;
  requests: string;
  failures: string;
  p50: string;
  p95: string;
  p99: string;
}

const views = resolve(packageRoot, 'proxy', 'status', 'views');
// autoEscape is Eta's default; it is spelled out because upstream addresses can come from DNS or Docker labels.
const eta = new Eta({ views, cache: true, autoEscape: true });
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const notYet = '–';

export function renderStatusPage(
  snapshot: StatusSnapshot,
  { refreshSeconds = 2 }: StatusPageOptions = {},
): string {
  return eta.render('status', statusPageModel(snapshot, refreshSeconds));
}

export function statusPageModel(snapshot: StatusSnapshot, refreshSeconds = 2): StatusPageModel {
  const now = Date.parse(snapshot.generatedAt);
  return {
    refreshSeconds,
    version: snapshot.proxy.version,
    hostname: snapshot.proxy.hostname,
    pid: snapshot.proxy.pid,
    uptime: formatUptime(snapshot.proxy.uptime),
    startedAt: snapshot.proxy.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
    requests: integer.format(snapshot.proxy.requests),
    healthProbes: integer.format(
      snapshot.upstreams.reduce((sum, upstream) => sum + (upstream.worker?.healthProbes ?? 0), 0),
    ),
    updatedAt: snapshot.generatedAt.slice(11, 19),
    summary: summarize(snapshot.upstreams),
    upstreams: snapshot.upstreams.map((upstream) => upstreamRow(upstream, now)),
    certificates: (snapshot.certificates ?? []).map((c) => ({
      names: c.names.join(', '),
      file: c.file,
      notAfter: c.notAfter.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'),
      daysLeft: c.daysLeft < 0 ? 'expired' : `${integer.format(c.daysLeft)} days`,
      // As `gatehouse check` says it: expired is an error, under 14 days a warning.
      tone: c.daysLeft < 0 ? 'bad' : c.daysLeft < 14 ? 'warn' : 'ok',
    })),
  };
}

function upstreamRow(upstream: UpstreamStatus, now: number): UpstreamRow {
  const { worker } = upstream;
  return {
    route: upstream.route,
    address: upstream.address,
    state: upstream.state,
    detail: stateDetail(upstream, now),
    worker: worker?.hostname ?? notYet,
    workerDetail: worker ? `pid ${worker.pid} · instance ${worker.instance} · port ${worker.port}` : '',
    healthProbes: worker ? integer.format(worker.healthProbes) : notYet,
    weight: integer.format(upstream.weight),
    inFlight: integer.format(upstream.inFlight),
    requests: integer.format(upstream.requests),
    failures: integer.format(upstream.failures),
    p50: formatMs(upstream.latency.p50),
    p95: formatMs(upstream.latency.p95),
    p99: formatMs(upstream.latency.p99),
  };
}

function stateDetail(upstream: UpstreamStatus, now: number): string {
  if (upstream.state === 'backup') return 'standing by';
  if (upstream.state === 'up') return '';
  const reasons: string[] = [];
  if (upstream.draining) reasons.push('draining');
  if (!upstream.healthy) reasons.push('health check failing');
  if (upstream.downUntil !== null) {
    const seconds = Math.max(1, Math.ceil((Date.parse(upstream.downUntil) - now) / 1000));
    reasons.push(`failures, retry in ${seconds} s`);
  }
  return reasons.join('; ');
}

function summarize(upstreams: readonly UpstreamStatus[]): StatusPageModel['summary'] {
  const total = upstreams.length;
  if (total === 0) return { text: 'no upstreams in the pool', tone: 'bad' };
  const down = upstreams.filter((upstream) => upstream.state === 'down').length;
  if (down === 0) return { text: `all ${total} upstreams available`, tone: 'ok' };
  if (down === total) return { text: `all ${total} upstreams down`, tone: 'bad' };
  return { text: `${down} of ${total} upstreams down`, tone: 'warn' };
}

export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86_400);
  const hours = Math.floor((s % 86_400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${s % 60}s`;
  return `${s}s`;
}

/** Enough digits to compare upstreams, no more: 0.42, 3.1, 57, 1,204. */
export function formatMs(ms: number | null): string {
  if (ms === null) return notYet;
  if (ms < 1) return ms.toFixed(2);
  if (ms < 10) return ms.toFixed(1);
  return integer.format(ms);
}
