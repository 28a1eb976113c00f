/**
 * The status JSON: what the proxy's /status answers (Accept: application/json) and what
 * `gatehouse status` (deploy/pm2) reads. Both sides import this one definition.
 */

import type { WorkerReport } from './worker-identity.js';

export type { WorkerIdentity, WorkerReport } from './worker-identity.js';

/**
 * 'up' takes requests; 'backup' could take them but stands by until every primary is down;
 * 'down' is out: by active health (`healthy` false), passive health (`downUntil` ahead) or on
 * purpose (`draining`).
 */
export type UpstreamState = 'up' | 'down' | 'backup';

export interface UpstreamStatus {
  /** The route whose pool it is in ("default": the top-level pool). */
  route: string;
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
  /**
   * The worker that answers on this address (host name, pid, instance, port) and the health
   * probes it has answered, from its last health answer; null until one came (active health off,
   * or a server that is not a gatehouse worker).
   */
  worker: WorkerReport | null;
}

export interface ProxyStatus {
  /** The proxy's host name (its container id in Docker). */
  hostname: string;
  pid: number;
  version: string;
  /** ISO time the proxy started. */
  startedAt: string;
  /** Seconds since then. */
  uptime: number;
  /** Client requests answered since the start. */
  requests: number;
}

/** A certificate the TLS listener serves. */
export interface CertificateStatus {
  /** The certificate file. */
  file: string;
  /** The names it covers (SAN, else CN). */
  names: string[];
  /** ISO time it ends. */
  notAfter: string;
  /** Whole days left (negative once expired). */
  daysLeft: number;
}

/** Everything /status shows, as plain JSON-able data: the HTML page and the JSON answer are the same facts. */
export interface StatusSnapshot {
  /** ISO time the snapshot was taken. */
  generatedAt: string;
  proxy: ProxyStatus;
  /** Every upstream of every pool, grouped by route (pool) in route order. */
  upstreams: UpstreamStatus[];
  /** The TLS listener's certificates; absent without tls. */
  certificates?: CertificateStatus[];
}
