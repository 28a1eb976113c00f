/**
 * nginx's limit_req arithmetic (ngx_http_limit_req_module.c), to the milli-request: a leaky
 * bucket per key whose `excess` (1000 = one request) drains at `rate` and grows by 1000 with each
 * request let through. Integer math as nginx does it, so both fronts pass and refuse the same
 * requests of a burst. Pure: the caller passes the clock (whole milliseconds).
 */

/** One route's limit as the arithmetic needs it. */
export interface BucketLimit {
  /** Milli-requests per second: 10r/s = 10000, 30r/m = 500 (nginx: rate * 1000 / 60, truncated). */
  rate: number;
  /** Requests over the rate a key may have waiting or passed early, in milli-requests. */
  burst: number;
  /** Requests within the burst pass at once instead of being delayed to the rate. */
  nodelay: boolean;
}

/** One key's state: nginx's `excess` and `last`. */
export interface LeakyBucket {
  /** Milli-requests over the rate, after the last request let through. */
  excess: number;
  /** When the last request was let through (ms). */
  last: number;
}

export type Admission =
  /** Let through, after `delay` ms (0: at once). `excess` as nginx logs it, in milli-requests. */
  | { pass: true; delay: number; excess: number }
  /** Over the burst (nginx's NGX_BUSY): refused; a retry after `retryAfter` seconds can pass. */
  | { pass: false; retryAfter: number; excess: number };

/**
 * The excess this request would leave: what the bucket held, less what leaked since, plus this
 * request. Never below 0. The clock's direction does not matter (nginx takes the absolute value).
 */
export function excessWith(bucket: LeakyBucket, now: number, limit: BucketLimit): number {
  const elapsed = Math.abs(now - bucket.last);
  return Math.max(0, bucket.excess - Math.floor((limit.rate * elapsed) / 1000) + 1000);
}

/**
 * Takes one request into a key's bucket (its first request makes a `freshBucket` instead, and
 * passes at once). A request let through updates the bucket in place; a refused one leaves it as
 * it was, as nginx does — refusals cost a client nothing and buy it nothing.
 */
export function admit(bucket: LeakyBucket, now: number, limit: BucketLimit): Admission {
  const excess = excessWith(bucket, now, limit);
  if (excess > limit.burst) return { pass: false, retryAfter: retryAfterSeconds(excess, limit), excess };
  bucket.excess = excess;
  bucket.last = now;
  const delay = limit.nodelay || excess === 0 ? 0 : Math.floor((excess * 1000) / limit.rate);
  return { pass: true, delay, excess };
}

/** A new key's bucket: nginx's fresh node (excess 0, the request counted as on time). */
export function freshBucket(now: number): LeakyBucket {
  return { excess: 0, last: now };
}

/**
 * Whole seconds until enough has leaked for a request to fit in the burst again, rounded up
 * (Retry-After takes seconds). At least 1: the request was just refused.
 */
export function retryAfterSeconds(excess: number, limit: BucketLimit): number {
  const ms = Math.ceil(((excess - limit.burst) * 1000) / limit.rate);
  return Math.max(1, Math.ceil(ms / 1000));
}

/** Whether a bucket has leaked empty and sat idle a minute: nginx then frees its node. */
export function isIdle(bucket: LeakyBucket, now: number, limit: BucketLimit): boolean {
  const elapsed = Math.abs(now - bucket.last);
  return elapsed >= IDLE_AFTER && bucket.excess - Math.floor((limit.rate * elapsed) / 1000) <= 0;
}

/** nginx keeps an emptied node this long before it may free it (ngx_http_limit_req_expire). */
export const IDLE_AFTER = 60_000;
