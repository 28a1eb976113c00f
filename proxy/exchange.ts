import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestBody } from './buffering/request-body.js';
import type { ProxyError } from './errors.js';
import type { Upstream } from './pool/upstream.js';
import type { RequestOrigin } from './prologue.js';
import type { AttemptsSoFar } from './retry.js';
import type { Backend, Route, Runtime } from './runtime.js';
import type { UpstreamAttempt } from './upstream-attempt.js';

/** One client request's journey through one or more upstream attempts. */
export interface Exchange extends AttemptsSoFar {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The settings this request started with (a reload does not change them under it). */
  readonly runtime: Runtime;
  readonly origin: RequestOrigin;
  /** The route the request took (null until routed, or when no route answers). */
  route: Route | null;
  /** The route's pool; null for a route served without one (redirect, static). */
  backend: Backend | null;
  /** Path and query as they go to the pool: origin form, prefix stripped when the route says so. */
  target: string;
  readonly started: number;
  /** The request has a body (Content-Length over 0, or chunked). */
  hasBody: boolean;
  /** The body has no Content-Length: its size is counted as it streams. */
  countBody: boolean;
  /** The whole body, read before the first attempt (buffering.request); null when streamed or none. */
  requestBody: RequestBody | null;
  /** Upstreams tried so far (the first one is in `upstream` until a retry needs the set). */
  tried: Set<Upstream> | null;
  upstream: Upstream | null;
  attemptStarted: number;
  /** The current attempt holds an in-flight slot on `upstream`. */
  holding: boolean;
  lastError: ProxyError | null;
  /** Body bytes sent to the client (nginx $body_bytes_sent). */
  bytesSent: number;
  /** The current attempt, to cancel it when the exchange is settled early or the client leaves. */
  attempt: UpstreamAttempt | null;
  /** A response (proxied or proxy-made) started going to the client: no more attempts. */
  settled: boolean;
  done: boolean;
}

export function createExchange(
  req: IncomingMessage,
  res: ServerResponse,
  runtime: Runtime,
  origin: RequestOrigin,
  idempotent: boolean,
): Exchange {
  return {
    req,
    res,
    runtime,
    origin,
    route: null,
    backend: null,
    target: req.url ?? '/',
    started: performance.now(),
    hasBody: false,
    countBody: false,
    requestBody: null,
    idempotent,
    attempts: 0,
    bodyStarted: false,
    tried: null,
    upstream: null,
    attemptStarted: 0,
    holding: false,
    lastError: null,
    bytesSent: 0,
    attempt: null,
    settled: false,
    done: false,
  };
}
