import type { RetriesConfig } from '../config/index.js';
import type { ProxyError } from './errors.js';
import type { Balancer } from './pool/balancer.js';
import { pickDespiteHealth } from './pool/panic.js';
import type { Pool } from './pool/pool.js';
import type { Upstream } from './pool/upstream.js';

/**
 * The one retry policy of the request path, HTTP and WebSocket alike: nginx's
 * `proxy_next_upstream` (which failures move a request on) and `proxy_next_upstream_tries`.
 */
export interface RetryPolicy {
  /** `error`: a refused, reset or broken connection. */
  readonly error: boolean;
  /** `timeout`: a connect, send or read timeout. */
  readonly timeout: boolean;
  /** `http_502` and the like: an idempotent request answered with one of these goes on too. */
  readonly statuses: ReadonlySet<number>;
  /** Attempts at most, the first included; 0 = as many as there are servers. */
  readonly tries: number;
}

export function retryPolicy(retries: RetriesConfig): RetryPolicy {
  const next = retries.nextUpstream;
  return {
    error: next.includes('error'),
    timeout: next.includes('timeout'),
    statuses: new Set(next.filter((c) => c.startsWith('http_')).map((c) => Number(c.slice(5)))),
    tries: retries.tries,
  };
}

/** Methods that may be sent again after a failure (POST, PATCH, LOCK never are; nginx's rule). */
const IDEMPOTENT = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PUT',
  'DELETE',
  'PROPFIND',
  'MKCOL',
  'COPY',
  'MOVE',
]);

export function isIdempotent(method: string | undefined): boolean {
  return IDEMPOTENT.has(method ?? '');
}

/** Where a request stands when one of its attempts failed. */
export interface AttemptsSoFar {
  /** Attempts made, the failed one included. */
  attempts: number;
  idempotent: boolean;
  /**
   * A streamed body (buffering.request off) started flowing to an upstream: it was not kept, so it
   * cannot be sent again. A buffered body never sets it: it is sent again whole, and whether the
   * request may have reached a worker (connected, bytes written) is the error's `requestSent`.
   */
  bodyStarted: boolean;
}

function triesLeft(policy: RetryPolicy, so: AttemptsSoFar): boolean {
  return policy.tries === 0 || so.attempts < policy.tries;
}

/**
 * Whether a failed attempt is followed by another on the next upstream. Nothing that may have
 * reached the upstream is sent again unless the method is idempotent, and a body that started
 * streaming is never sent again (it was not kept). A refused connection is retried for any
 * method: nothing reached a worker (with a buffered body, not even for a POST).
 */
export function retriesAfter(policy: RetryPolicy, error: ProxyError, so: AttemptsSoFar): boolean {
  const named = error.kind === 'timeout' ? policy.timeout : policy.error;
  const resendable = !so.bodyStarted && (!error.requestSent || so.idempotent);
  return named && resendable && triesLeft(policy, so);
}

/** Whether an upstream's answer with `status` is dropped for an attempt on the next upstream. */
export function retriesOnStatus(policy: RetryPolicy, status: number, so: AttemptsSoFar): boolean {
  return policy.statuses.has(status) && so.idempotent && !so.bodyStarted && triesLeft(policy, so);
}

/**
 * The upstream for a request's next attempt, never one it tried: the balancer's pick among the
 * available ones, else — all down — one despite its health (nginx's quick-recovery rule).
 */
export function nextUpstream(
  balancer: Balancer,
  pool: Pool,
  clientIp: string,
  tried: ReadonlySet<Upstream>,
): Upstream | null {
  return balancer.pick(pool, clientIp, tried) ?? pickDespiteHealth(pool, tried);
}
