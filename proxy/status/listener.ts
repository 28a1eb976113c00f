import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { StatusSnapshot } from '../../stack/status.js';
import { createLatencyBook, defaultLatencySamples } from './latency.js';
import {
  type CertificateInfo,
  createMetrics,
  noUpstream,
  type PoolView,
  type UpstreamConnections,
} from './metrics.js';
import { createStatusServer, type ExtraRoutes } from './server.js';
import { buildStatusSnapshot } from './snapshot.js';

export interface StatusListenerOptions {
  /** Every pool's upstreams now, by route; called on each /status and /metrics request, never cached. */
  getPools: () => readonly PoolView[];
  getClientConnections: () => number;
  getUpstreamConnections: () => UpstreamConnections;
  /** Bytes of buffering temp files now. */
  getTempBytes?: () => number;
  logger?: Pick<Logger, 'error'>;
  /** Latency samples kept per upstream. */
  latencySamples?: number;
  refreshSeconds?: number;
  /** Epoch ms the proxy started; default now. */
  startedAt?: number;
  /** Paths the status listener serves for someone else (development reload). */
  extraRoutes?: ExtraRoutes;
  /** status.token now; null = no token needed. */
  getToken?: () => string | null;
  /** The TLS listener's certificates now (the page, the JSON, the expiry gauge); absent without tls. */
  getCertificates?: () => readonly CertificateInfo[];
}

export interface StatusListener {
  /** Not listening yet: `server.listen(config.status.listen.port, config.status.listen.host)`. */
  server: Server;
  registry: Registry;
  /**
   * Call once per client request, when its response has finished (or the client went away):
   * its route (`noRoute` when none took it), the address of the upstream that answered last (`noUpstream` when none was reached), the
   * status sent, and the seconds since the request arrived. O(1), allocation-free after warm-up.
   */
  observe(route: string, upstream: string, status: number, seconds: number): void;
  snapshot(): StatusSnapshot;
}

/** The status listener of the proxy: latency, metrics, snapshot and server, wired to one `observe`. */
export function createStatusListener({
  getPools,
  getClientConnections,
  getUpstreamConnections,
  getTempBytes = () => 0,
  logger,
  latencySamples = defaultLatencySamples,
  refreshSeconds = 2,
  startedAt = Date.now(),
  extraRoutes,
  getToken,
  getCertificates,
}: StatusListenerOptions): StatusListener {
  const latency = createLatencyBook({ capacity: latencySamples });
  const metrics = createMetrics({
    getPools,
    getClientConnections,
    getUpstreamConnections,
    getTempBytes,
    ...(getCertificates ? { getCertificates } : {}),
  });
  let requests = 0;

  function snapshot(): StatusSnapshot {
    const pools = getPools();
    // A pool swap may have dropped upstreams; their rings go with them.
    latency.retain(pools.flatMap((pool) => pool.upstreams.map((upstream) => upstream.address)));
    return buildStatusSnapshot({
      pools,
      latency: latency.percentiles,
      startedAt,
      requests,
      certificates: getCertificates?.(),
    });
  }

  const server = createStatusServer({
    getSnapshot: snapshot,
    metrics,
    refreshSeconds,
    ...(logger ? { logger } : {}),
    ...(extraRoutes ? { extraRoutes } : {}),
    ...(getToken ? { getToken } : {}),
  });

  return {
    server,
    registry: metrics.registry,
    observe: function observeRequest(route, upstream, status, seconds) {
      requests++;
      if (upstream !== noUpstream) latency.record(upstream, seconds * 1000);
      metrics.observe(route, upstream, status, seconds);
    },
    snapshot,
  };
}
