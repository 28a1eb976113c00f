export {
  createLatencyBook,
  defaultLatencySamples,
  type LatencyBook,
  type LatencyPercentiles,
  LatencyRing,
} from './latency.js';
export { createStatusListener, type StatusListener, type StatusListenerOptions } from './listener.js';
export {
  createMetrics,
  type Metrics,
  type MetricsOptions,
  noUpstream,
  type UpstreamConnections,
} from './metrics.js';
export { renderStatusPage, type StatusPageOptions } from './page.js';
export { createStatusServer, type StatusServerOptions } from './server.js';
export {
  buildStatusSnapshot,
  type ProxyStatus,
  type StatusSnapshot,
  type UpstreamState,
  type UpstreamStatus,
} from './snapshot.js';
