import { Agent, type ClientRequest, request } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogLine } from './child.js';

/**
 * How far the response had come when a request ended: a failure is judged by what the client had
 * received when it happened. Nothing (or part of the head) → the front should have answered (502);
 * the head or part of the body → the response began on a worker that then failed, and cutting the
 * connection is the only honest ending left.
 */
export type Received = 'nothing' | 'part of the head' | 'head' | 'part of the body' | 'whole response';

export interface LoadResult {
  method: 'GET' | 'POST';
  /** 0 when no response head came. */
  status: number;
  /** Why it failed: a status, a transport error code, 'timeout', or 'body mismatch'; undefined when it passed. */
  error?: string;
  received: Received;
  /** Response bytes that came over the wire for this request (head and chunk framing included). */
  bytes: number;
  /** The front's X-Request-Id, once the head came: the key to its log lines about this request. */
  requestId?: string;
  /** When it ended (Date.now()): how long a run of failures lasted. */
  endedAt: number;
}

/** What a failed request tells about the front, by what the client had received. */
export type Outcome =
  /** A complete answer: 2xx with the right body. */
  | 'ok'
  /** A complete answer, but an error status or a wrong body. */
  | 'error response'
  /** The connection ended after the response began (head or part of the body in). */
  | 'cut off'
  /** The connection ended before any response (or with part of its head): no answer at all. */
  | 'no response'
  /** No end within the request timeout. */
  | 'hung';

export function outcome(result: LoadResult): Outcome {
  if (!result.error) return 'ok';
  if (result.error === 'timeout') return 'hung';
  switch (result.received) {
    case 'whole response':
      return 'error response';
    case 'head':
    case 'part of the body':
      return 'cut off';
    default:
      return 'no response';
  }
}

/** A failure's kind for the report: the status of a complete answer, else the error and how far it got. */
export function failureKind(result: LoadResult): string {
  if (!result.error) return 'ok';
  return result.received === 'whole response'
    ? result.error
    : `${result.error} (${result.received} received)`;
}

/**
 * Settles with the request's result once it ended one way or another, recording what the client had
 * received when it did. `expected`: the body a 2xx must carry (null: any body). Bounded by `timeout`
 * (no progress for that long → 'timeout', and the request is destroyed).
 */
function observe(
  req: ClientRequest,
  method: LoadResult['method'],
  expected: string | null,
  timeout: number,
): Promise<LoadResult> {
  return new Promise((resolve) => {
    let socket: Socket | null = null;
    // With a keep-alive agent the socket carried earlier exchanges; only what comes after this one
    // took it counts (the previous response was read to its end before the socket was handed on).
    let bytesBefore = 0;
    let headIn = false;
    let bodyBytes = 0;
    let status = 0;
    let requestId: string | undefined;
    let settled = false;
    const finish = (error: string | undefined, complete = false) => {
      if (settled) return;
      settled = true;
      const bytes = socket ? socket.bytesRead - bytesBefore : 0;
      const received: Received = complete
        ? 'whole response'
        : bytes === 0
          ? 'nothing'
          : !headIn
            ? 'part of the head'
            : bodyBytes === 0
              ? 'head'
              : 'part of the body';
      const result: LoadResult = { method, status, received, bytes, endedAt: Date.now() };
      if (error) result.error = error;
      if (requestId) result.requestId = requestId;
      resolve(result);
    };
    req.on('socket', (s: Socket) => {
      socket = s;
      bytesBefore = s.bytesRead;
    });
    req.on('response', (res) => {
      headIn = true;
      status = res.statusCode ?? 0;
      const id = res.headers['x-request-id'];
      if (typeof id === 'string') requestId = id;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        bodyBytes += chunk.length;
        chunks.push(chunk);
      });
      res.on('aborted', () => finish('aborted'));
      res.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
      res.on('end', () => {
        if (status < 200 || status > 299) return finish(String(status), true);
        if (expected !== null && Buffer.concat(chunks).toString() !== expected)
          return finish('body mismatch', true);
        finish(undefined, true);
      });
    });
    req.setTimeout(timeout, () => {
      finish('timeout');
      req.destroy();
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
  });
}

export interface LoadOptions {
  /** The front's base URL. */
  url: string;
  /** Concurrent client connections, each sending one request after another (keep-alive). */
  connections?: number;
  /** Upper bounds: the load stops at whichever comes first (or at stop()). */
  duration?: number;
  maxRequests?: number;
  /** A request without progress for this many ms counts as hung (and is aborted). */
  requestTimeout?: number;
  /** Only `GET /` (idempotent: the proxy may resend each to another worker); default: GETs and POSTs. */
  getOnly?: boolean;
  /** The `Host` every request carries (default: the URL's): which route of the front it takes. */
  host?: string;
  /** The body every `GET /` must bring back (default: any body). */
  getBody?: string;
}

export interface LoadReport {
  total: number;
  failed: number;
  get: { total: number; failed: number };
  post: { total: number; failed: number };
  /** Failures by kind: "502", "aborted (part of the body received)", "timeout (nothing received)"... */
  failures: Record<string, number>;
  hung: number;
  /** Every failed request, for assertions that judge each by what it had received. */
  failedResults: LoadResult[];
}

export interface LoadRun {
  /** Requests ended so far, passed or failed. */
  readonly ended: number;
  stop(): Promise<LoadReport>;
  done: Promise<LoadReport>;
}

/**
 * Keeps `connections` clients busy with a mix of `GET /` and `POST /echo` (small bodies, echo
 * checked byte for byte), like a browser and an API client would. Bounded in time and count; every
 * request ends with a status, an error, or a timeout — none is left waiting.
 */
export function startLoad(options: LoadOptions): LoadRun {
  const {
    url,
    connections = 20,
    duration = 15_000,
    maxRequests = 200_000,
    requestTimeout = 15_000,
    getOnly = false,
    host,
    getBody = null,
  } = options;
  const base = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const results: LoadResult[] = [];
  let stopping = false;
  let sent = 0;
  const timer = setTimeout(() => {
    stopping = true;
  }, duration);

  async function loop(id: number): Promise<void> {
    for (let i = 0; !stopping && sent < maxRequests; i++) {
      sent++;
      const post = !getOnly && (i + id) % 2 === 1;
      results.push(await once(post ? 'POST' : 'GET', post ? `gatehouse ${id}:${i}` : null));
    }
  }

  function once(method: LoadResult['method'], body: string | null): Promise<LoadResult> {
    const req = request({
      host: base.hostname,
      port: base.port,
      path: body === null ? '/' : '/echo',
      method,
      agent,
      headers: {
        ...(host ? { host } : {}),
        ...(body === null ? {} : { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }),
      },
    });
    const result = observe(req, method, body ?? getBody, requestTimeout);
    req.end(body ?? undefined);
    return result;
  }

  const done = Promise.all(Array.from({ length: connections }, (_, id) => loop(id))).then(() => {
    clearTimeout(timer);
    agent.destroy();
    return summarize(results);
  });

  return {
    get ended() {
      return results.length;
    },
    stop() {
      stopping = true;
      return done;
    },
    done,
  };
}

export interface LoadDuringOptions {
  /** Load before the operation: at least this many ms and `settle` requests ended. */
  warmup?: number;
  /** Load after it, so whatever it broke shows up: at least this many ms and `settle` more requests ended. */
  cooldown?: number;
  settle?: number;
  /** The load stops by itself after this many ms in any case. */
  cap?: number;
  /** Concurrent client connections (startLoad's default when omitted). */
  connections?: number;
  /** See LoadOptions. */
  getOnly?: boolean;
  host?: string;
  getBody?: string;
}

/**
 * Load before, during and after `operation`. Before and after wait for requests to have ended, not
 * only for time to pass: on a loaded machine a second may see only a handful.
 */
export async function loadDuring<T>(
  url: string,
  operation: () => Promise<T>,
  {
    warmup = 1000,
    cooldown = 1000,
    settle = 50,
    cap = 60_000,
    connections,
    ...request
  }: LoadDuringOptions = {},
): Promise<{ report: LoadReport; value: T }> {
  const load = startLoad({ url, duration: cap, ...request, ...(connections ? { connections } : {}) });
  let finished = false;
  void load.done.then(() => {
    finished = true;
  });
  const traffic = async (ms: number) => {
    const target = load.ended + settle;
    await sleep(ms);
    while (!finished && load.ended < target) await sleep(20);
  };
  try {
    await traffic(warmup);
    const value = await operation();
    await traffic(cooldown);
    return { report: await load.stop(), value };
  } finally {
    await load.stop();
  }
}

export interface SlowPost {
  /** Sends the body; the echo must come back whole. */
  finish(): void;
  /** Settles with the status (0 when none came), why it failed, and what had come by then. */
  result: Promise<LoadResult>;
}

/**
 * A POST /echo whose head goes out now and whose body waits for finish(): while it waits, the request
 * sits in flight on one worker (the echo answers only once the body comes), the case a crash or a
 * drain has to handle. Bounded by `timeout`, so it can never hang a test.
 */
export function startSlowPost(url: string, body: string, timeout = 20_000): SlowPost {
  const base = new URL(url);
  const req = request({
    host: base.hostname,
    port: base.port,
    path: '/echo',
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) },
  });
  req.flushHeaders();
  const result = observe(req, 'POST', body, timeout);
  // An early answer (a 502 while the body is still held back) ends the exchange once it is read.
  req.on('response', (res) => {
    if ((res.statusCode ?? 0) >= 300) res.once('end', () => req.destroy());
  });
  return {
    finish() {
      if (!req.destroyed) req.end(body);
    },
    result,
  };
}

export function summarize(results: readonly LoadResult[]): LoadReport {
  const report: LoadReport = {
    total: results.length,
    failed: 0,
    get: { total: 0, failed: 0 },
    post: { total: 0, failed: 0 },
    failures: {},
    hung: 0,
    failedResults: [],
  };
  for (const r of results) {
    const bucket = r.method === 'GET' ? report.get : report.post;
    bucket.total++;
    if (!r.error) continue;
    bucket.failed++;
    report.failed++;
    report.failedResults.push(r);
    const kind = failureKind(r);
    report.failures[kind] = (report.failures[kind] ?? 0) + 1;
    if (r.error === 'timeout') report.hung++;
  }
  return report;
}

/** A count as the report prints it: 2,345. */
export const count = (n: number): string => n.toLocaleString('en-US');

/** One line for the test output: what ran and what failed, `what: 0 of 2,345 failed (GET 0 of 1,172, POST 0 of 1,173)`. */
export function describeLoad(what: string, report: LoadReport): string {
  const kinds = Object.entries(report.failures)
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
  const of = (part: { failed: number; total: number }) => `${count(part.failed)} of ${count(part.total)}`;
  return `${what}: ${of(report)} failed (GET ${of(report.get)}, POST ${of(report.post)})${kinds ? ` — ${kinds}` : ''}`;
}

/**
 * Each failed request (the first `limit`), what it had received, and the lines the proxy logged
 * about it (its log, found by the request id the client got).
 */
export function explainFailures(
  failed: readonly LoadResult[],
  proxyLog: readonly LogLine[],
  limit = 20,
): string {
  const rest = failed.length - limit;
  return failed
    .slice(0, limit)
    .map((r) => {
      const lines = r.requestId ? proxyLog.filter((line) => line.requestId === r.requestId) : [];
      return [
        `${new Date(r.endedAt).toISOString()} ${r.method} ${failureKind(r)}, ${r.bytes} response bytes, request id ${r.requestId ?? '(none came)'}`,
        ...lines.map((line) => `  proxy: ${JSON.stringify(line)}`),
      ].join('\n');
    })
    .concat(rest > 0 ? [`(${rest} more)`] : [])
    .join('\n');
}
