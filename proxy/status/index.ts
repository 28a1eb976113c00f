export type { ProxyStatus, StatusSnapshot, UpstreamState, UpstreamStatus } from '../../stack/status.js';
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
  noRoute,
  noUpstream,
  type PoolView,
  type UpstreamConnections,
} from './metrics.js';
export { renderStatusPage, type StatusPageOptions } from './page.js';
export { createStatusServer, type StatusServerOptions } from './server.js';
export { buildStatusSnapshot } from './snapshot.js';
