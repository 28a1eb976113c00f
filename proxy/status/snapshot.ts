import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';
import { packageRoot } from '../../config/index.js';
import type { CertificateStatus, StatusSnapshot, UpstreamStatus } from '../../stack/status.js';
import type { Upstream } from '../pool/upstream.js';
import type { LatencyPercentiles } from './latency.js';
import type { PoolView } from './metrics.js';

export interface SnapshotInput {
  pools: readonly PoolView[];
  latency: (address: string) => LatencyPercentiles;
  /** Epoch ms the proxy started. */
  startedAt: number;
  requests: number;
  /** The TLS listener's certificates (file, names, end); undefined without tls. */
  certificates?: readonly { cert: string; names: readonly string[]; notAfter: Date }[] | undefined;
  now?: number;
  pid?: number;
  hostname?: string;
  version?: string;
}

export function buildStatusSnapshot({
  pools,
  latency,
  startedAt,
  requests,
  certificates,
  now = Date.now(),
  pid = process.pid,
  hostname = osHostname(),
  version = packageVersion(),
}: SnapshotInput): StatusSnapshot {
  return {
    generatedAt: new Date(now).toISOString(),
    proxy: {
      hostname,
      pid,
      version,
      startedAt: new Date(startedAt).toISOString(),
      uptime: Math.max(0, Math.floor((now - startedAt) / 1000)),
      requests,
    },
    upstreams: pools.flatMap(({ route, upstreams }) =>
      upstreams.map((upstream) => upstreamStatus(route, upstream, latency(upstream.address), now)),
    ),
    ...(certificates
      ? {
          certificates: certificates.map(
            (c): CertificateStatus => ({
              file: c.cert,
              names: [...c.names],
              notAfter: c.notAfter.toISOString(),
              daysLeft: Math.floor((c.notAfter.getTime() - now) / 86_400_000),
            }),
          ),
        }
      : {}),
  };
}

function upstreamStatus(
  route: string,
  upstream: Upstream,
  latency: LatencyPercentiles,
  now: number,
): UpstreamStatus {
  const available = upstream.available(now);
  return {
    route,
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
    // A copy: the snapshot is a moment's facts, not a live view of the upstream.
    worker: upstream.worker ? { ...upstream.worker } : null,
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
