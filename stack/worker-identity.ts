/**
 * How a worker says who it is to whoever probes its health path: the response header a worker
 * adds to every health answer, and its parser. The worker writes it (app/worker.ts), the proxy's
 * active health check reads it onto the upstream (proxy/pool/active-health.ts), and the status
 * page shows it. In Docker every replica is pid 7, instance 0, port 3000 — the host name (the
 * container id) is what tells them apart.
 */

/** Lower case, as Node hands response headers to a client. */
export const WORKER_HEADER = 'gatehouse-worker';

/** Which worker process answers on an upstream address. */
export interface WorkerIdentity {
  /** os.hostname(): the container id in Docker, the machine's name under pm2. */
  hostname: string;
  pid: number;
  /** pm2's NODE_APP_INSTANCE (0 when not under pm2). */
  instance: number;
  port: number;
}

/** A worker's identity plus the health probes it has answered since it started. */
export interface WorkerReport extends WorkerIdentity {
  healthProbes: number;
}

const COUNTS = ['pid', 'instance', 'port', 'healthProbes'] as const;
// A host name is letters, digits, dots and dashes (RFC 1123); anything else is not ours to show.
const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/;

/** `hostname=3f2a1b9c04de; pid=7; instance=0; port=3000; healthProbes=12` */
export function formatWorkerHeader(report: WorkerReport): string {
  return `hostname=${report.hostname}; pid=${report.pid}; instance=${report.instance}; port=${report.port}; healthProbes=${report.healthProbes}`;
}

/** The report in a health answer, or null when the header is absent or not one a worker writes. */
export function parseWorkerHeader(value: string | string[] | undefined): WorkerReport | null {
  if (typeof value !== 'string') return null;
  const fields = new Map<string, string>();
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const hostname = fields.get('hostname') ?? '';
  if (!HOSTNAME.test(hostname)) return null;
  const report: WorkerReport = { hostname, pid: 0, instance: 0, port: 0, healthProbes: 0 };
  for (const key of COUNTS) {
    const text = fields.get(key) ?? '';
    if (!/^\d{1,15}$/.test(text)) return null;
    report[key] = Number(text);
  }
  return report;
}
