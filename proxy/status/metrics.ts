import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Upstream } from '../pool/upstream.js';

/** The `upstream` label of a request that reached no upstream (502 with every server down). */
export const noUpstream = 'none';

/** The `route` label of a request no route took (unknown host: 404; unroutable target: 400). */
export const noRoute = 'none';

/** One pool's upstreams, under the name of the route that owns it ("default": the top-level pool). */
export interface PoolView {
  route: string;
  upstreams: readonly Upstream[];
}

export interface UpstreamConnections {
  active: number;
  idle: number;
}

export interface MetricsOptions {
  getPools: () => readonly PoolView[];
  /** Client connections open on the proxy's listener now. */
  getClientConnections: () => number;
  /** Upstream sockets now carrying a request, and those kept idle for reuse. */
  getUpstreamConnections: () => UpstreamConnections;
  /** Bytes of buffering temp files now (request bodies and responses past buffering.memory). */
  getTempBytes?: () => number;
  /** The TLS listener's certificates now; absent without tls. */
  getCertificates?: () => readonly CertificateInfo[];
}

/** A certificate in service, as the expiry gauge labels it. */
export interface CertificateInfo {
  cert: string;
  names: readonly string[];
  notAfter: Date;
}

export interface Metrics {
  /** Its own registry, so nothing else in the process (or a second proxy in a test) leaks in. */
  registry: Registry;
  /**
   * One finished client request: its route (or `noRoute`), the upstream that answered (its
   * address, or `noUpstream`), the status sent to the client and the time from request to
   * response end. Runs per request.
   */
  observe(route: string, upstream: string, status: number, seconds: number): void;
}

/** Request latencies from a fast cache hit to a slow upstream near the default 60 s read timeout. */
const durationBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

// Index = status / 100; index 0 holds anything outside 100-599 a broken caller might pass.
const codeClasses = ['other', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

interface UpstreamSeries {
  route: string;
  requests: (Counter.Internal | undefined)[];
  duration: { observe(value: number): void };
}

export function createMetrics({
  getPools,
  getClientConnections,
  getUpstreamConnections,
  getTempBytes = () => 0,
  getCertificates,
}: MetricsOptions): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const requests = new Counter({
    name: 'gatehouse_requests_total',
    help: 'Client requests answered, by the upstream that answered and the status class sent',
    labelNames: ['route', 'upstream', 'code_class'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'gatehouse_request_duration_seconds',
    help: 'Time from a client request to the end of its response, by upstream',
    labelNames: ['route', 'upstream'] as const,
    buckets: durationBuckets,
    registers,
  });

  // Upstream.failures is the one count of failed attempts (retried ones included); the counter
  // follows it at scrape time. Keyed by object: a pool swap that replaces an upstream starts over.
  const failuresSeen = new WeakMap<Upstream, number>();
  new Counter({
    name: 'gatehouse_upstream_failures_total',
    help: 'Failed attempts to an upstream: connection errors, timeouts and 5xx counted as failures',
    labelNames: ['route', 'upstream'] as const,
    registers,
    collect() {
      for (const { route, upstreams } of getPools())
        for (const upstream of upstreams) {
          const seen = failuresSeen.get(upstream) ?? 0;
          const delta = upstream.failures - seen;
          failuresSeen.set(upstream, upstream.failures);
          // Zero still creates the series, so a healthy upstream shows 0 rather than nothing.
          this.inc({ route, upstream: upstream.address }, Math.max(delta, 0));
        }
    },
  });

  new Gauge({
    name: 'gatehouse_upstream_healthy',
    help: 'Whether an upstream may take requests now (1) or is out by active or passive health (0)',
    labelNames: ['route', 'upstream'] as const,
    registers,
    collect() {
      // Reset first so an upstream removed from the pool disappears rather than freezing.
      this.reset();
      const now = Date.now();
      for (const { route, upstreams } of getPools())
        for (const upstream of upstreams)
          this.set({ route, upstream: upstream.address }, upstream.available(now) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'gatehouse_upstream_in_flight',
    help: 'Requests being forwarded to an upstream now',
    labelNames: ['route', 'upstream'] as const,
    registers,
    collect() {
      this.reset();
      for (const { route, upstreams } of getPools())
        for (const upstream of upstreams) this.set({ route, upstream: upstream.address }, upstream.inFlight);
    },
  });
  new Gauge({
    name: 'gatehouse_client_connections',
    help: 'Client connections open on the proxy',
    registers,
    collect() {
      this.set(getClientConnections());
    },
  });
  new Gauge({
    name: 'gatehouse_upstream_connections',
    help: 'Connections to upstreams: active (carrying a request) and idle (kept alive for reuse)',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const { active, idle } = getUpstreamConnections();
      this.set({ state: 'active' }, active);
      this.set({ state: 'idle' }, idle);
    },
  });

  new Gauge({
    name: 'gatehouse_buffer_temp_bytes',
    help: 'Bytes of temp files holding buffered request and response bodies (bounded by buffering.max_disk)',
    registers,
    collect() {
      this.set(getTempBytes());
    },
  });

  if (getCertificates) {
    new Gauge({
      name: 'gatehouse_tls_certificate_expiry_seconds',
      help: 'Seconds until each served certificate ends (negative once expired), by its names',
      labelNames: ['names'] as const,
      registers,
      collect() {
        // Reset: a swap may have replaced a certificate, whose old series must not linger.
        this.reset();
        const now = Date.now();
        for (const c of getCertificates())
          this.set({ names: c.names.join(',') }, Math.floor((c.notAfter.getTime() - now) / 1000));
      },
    });
  }

  collectDefaultMetrics({ register: registry });

  // Keyed by route, then upstream: no string is built per request.
  const series = new Map<string, Map<string, UpstreamSeries>>();

  function seriesOf(route: string, upstream: string): UpstreamSeries {
    let ofRoute = series.get(route);
    if (ofRoute === undefined) {
      ofRoute = new Map();
      series.set(route, ofRoute);
    }
    let found = ofRoute.get(upstream);
    if (found === undefined) {
      found = { route, requests: [], duration: duration.labels(route, upstream) };
      ofRoute.set(upstream, found);
    }
    return found;
  }

  return {
    registry,
    observe: function observeRequest(route, upstream, status, seconds) {
      const upstreamSeries = seriesOf(route, upstream);
      const index = status >= 100 && status < 600 ? Math.floor(status / 100) : 0;
      let counter = upstreamSeries.requests[index];
      if (counter === undefined) {
        counter = requests.labels(route, upstream, codeClasses[index] ?? 'other');
        upstreamSeries.requests[index] = counter;
      }
      counter.inc();
      // prom-client throws on a non-finite value; a metrics call must never fail a request.
      if (Number.isFinite(seconds) && seconds >= 0) upstreamSeries.duration.observe(seconds);
    },
  };
}
