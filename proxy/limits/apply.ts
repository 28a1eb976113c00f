import type { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import type { LimitKey, LimitsConfig, RequestLimitConfig } from '../../config/index.js';
import { ProxyError } from '../errors.js';
import { LimitTable } from './table.js';

/** A routed request as the rate limit sees it. */
export interface LimitedRequest {
  /** The route's name: each route has buckets of its own (nginx: one zone per route). */
  route: string;
  /** The route's limits (its own, else the top-level ones). */
  limits: LimitsConfig;
  /** The client address after trusted_proxies (prologue.ts). */
  clientIp: string;
  headers: IncomingHttpHeaders;
  /** Emits 'close' when the client goes (a ServerResponse, or a WebSocket handshake's socket). */
  client: EventEmitter;
}

export interface RequestLimiter {
  /**
   * nginx's limit_req for one request: `go` now, or after the delay that brings it to the rate
   * (never, if the client leaves meanwhile: it is not forwarded), or `refuse` with a 429 error
   * carrying its Retry-After.
   */
  admit(request: LimitedRequest, go: () => void, refuse: (error: ProxyError) => void): void;
  /** Requests waiting out a delay now (the status of the limiter, and tests). */
  readonly delayed: number;
  /** Shutdown: every delayed request goes now, rather than hold the drain up or be cut by it. */
  releaseDelayed(): void;
}

/**
 * The rate limits of one proxy process: a bucket table per route (kept across reloads while the
 * route's limit stays the same, as nginx keeps a zone), and the requests waiting out a delay.
 * Per process: with `instances` > 1 each process counts on its own (nginx shares one zone
 * between its workers).
 */
export function createRequestLimiter(): RequestLimiter {
  const tables = new Map<string, LimitTable>();
  const waiting = new Set<() => void>();

  function tableFor(route: string, limit: RequestLimitConfig): LimitTable {
    const existing = tables.get(route);
    const wanted = { rate: limit.milliRate, burst: limit.burst * 1000, nodelay: limit.nodelay };
    if (
      existing &&
      existing.limit.rate === wanted.rate &&
      existing.limit.burst === wanted.burst &&
      existing.limit.nodelay === wanted.nodelay
    )
      return existing;
    const made = new LimitTable(wanted);
    tables.set(route, made);
    return made;
  }

  function admit(request: LimitedRequest, go: () => void, refuse: (error: ProxyError) => void): void {
    const limit = request.limits.requests;
    const key = limit ? keyOf(limit.key, request) : '';
    // nginx: an empty key is not limited (a request without the header a key names).
    if (!limit || key === '') return go();
    const admission = tableFor(request.route, limit).take(key);
    if (!admission.pass) {
      const error = new ProxyError(
        'GH_ERR_RATE_LIMITED',
        `limiting requests, excess ${(admission.excess / 1000).toFixed(3)} by route ${request.route}`,
      );
      error.waitSeconds = admission.retryAfter;
      return refuse(error);
    }
    if (admission.delay === 0) return go();
    const { client } = request;
    const release = (): void => {
      clearTimeout(timer);
      waiting.delete(release);
      client.off('close', gone);
      go();
    };
    // The client left while delayed: not forwarded. Its excess stays spent, as in nginx.
    const gone = (): void => {
      clearTimeout(timer);
      waiting.delete(release);
    };
    const timer = setTimeout(release, admission.delay);
    waiting.add(release);
    client.once('close', gone);
  }

  return {
    admit,
    get delayed() {
      return waiting.size;
    },
    releaseDelayed() {
      for (const release of [...waiting]) release();
    },
  };
}

function keyOf(key: LimitKey, request: LimitedRequest): string {
  if (key.kind === 'client_ip') return request.clientIp;
  const value = request.headers[key.name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}
