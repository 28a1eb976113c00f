import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { packageRoot } from '../../config/index.js';
import type { Upstream } from '../pool/upstream.js';
import type { LatencyPercentiles } from './latency.js';

/**
 * 'up' takes requests; 'backup' could take them but stands by until every primary is down;
 * 'down' is out: by active health (`healthy` false), passive health (`downUntil` ahead) or on
 * purpose (`draining`).
 */
export type UpstreamState = 'up' | 'down' | 'backup';

export interface UpstreamStatus {
  address: string;
  weight: number;
  backup: boolean;
  state: UpstreamState;
  /** Active health's verdict. */
  healthy: boolean;
  /** Taken out of rotation on purpose; requests in flight finish. */
  draining: boolean;
  /** Passive health: when the upstream may be tried again (ISO time), null when not held out. */
  downUntil: string | null;
  inFlight: number;
  requests: number;
  failures: number;
  /** Milliseconds over the last samples; null fields until the first request. */
  latency: { samples: number; p50: number | null; p95: number | null; p99: number | null };
}

export interface ProxyStatus {
  pid: number;
  version: string;
  /** ISO time the proxy started. */
  startedAt: string;
  /** Seconds since then. */
  uptime: number;
  /** Client requests answered since the start. */
  requests: number;
}

/** Everything /status shows, as plain JSON-able data: the HTML page and the JSON answer are the same facts. */
export interface StatusSnapshot {
  /** ISO time the snapshot was taken. */
  generatedAt: string;
  proxy: ProxyStatus;
  upstreams: UpstreamStatus[];
}

export interface SnapshotInput {
  upstreams: readonly Upstream[];
  latency: (address: string) => LatencyPercentiles;
  /** Epoch ms the proxy started. */
  startedAt: number;
  requests: number;
  now?: number;
  pid?: number;
  version?: string;
}

export function buildStatusSnapshot({
  upstreams,
  latency,
  startedAt,
  requests,
  now = Date.now(),
  pid = process.pid,
  version = packageVersion(),
}: SnapshotInput): StatusSnapshot {
  return {
    generatedAt: new Date(now).toISOString(),
    proxy: {
      pid,
      version,
      startedAt: new Date(startedAt).toISOString(),
      uptime: Math.max(0, Math.floor((now - startedAt) / 1000)),
      requests,
    },
    upstreams: upstreams.map((upstream) => upstreamStatus(upstream, latency(upstream.address), now)),
  };
}

function upstreamStatus(upstream: Upstream, latency: LatencyPercentiles, now: number): UpstreamStatus {
  const available = upstream.available(now);
  return {
    address: upstream.address,
    weight: upstream.weight,
    backup: upstream.backup,
    state: !available ? 'down' : upstream.backup ? 'backup' : 'up',
    healthy: upstream.healthy,
    draining: upstream.draining,
    downUntil: upstream.downUntil > now ? new Date(upstream.downUntil).toISOString() : null,
    inFlight: upstream.inFlight,
    requests: upstream.requests,
    failures: upstream.failures,
    latency: {
      samples: latency.samples,
      p50: roundMs(latency.p50),
      p95: roundMs(latency.p95),
      p99: roundMs(latency.p99),
    },
  };
}

// Microseconds are the finest a person or a dashboard needs; more digits are noise in the JSON.
function roundMs(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 1000) / 1000;
}

let version: string | undefined;

/** The package's version, read once from package.json at the package root. */
export function packageVersion(): string {
  if (version === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(resolve(packageRoot, 'package.json'), 'utf8')) as {
        version?: unknown;
      };
      version = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      version = 'unknown';
    }
  }
  return version;
}
