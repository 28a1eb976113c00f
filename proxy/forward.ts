import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteRedirectTarget } from '../config/index.js';
import type { Logger } from '../process/logger.js';
import type { AccessLog } from './access-log.js';
import { RequestBody, readRequestBody } from './buffering/request-body.js';
import type { TempSpace } from './buffering/temp-space.js';
import {
  type BodyFraming,
  bodyFraming,
  hasBody,
  limitStreamedBody,
  lingerThenClose,
  watchClientBody,
} from './client-body.js';
import { errorPage, ProxyError, reasonPhrase, retryAfter, toProxyError } from './errors.js';
import { createExchange, type Exchange } from './exchange.js';
import { schemeOf } from './headers.js';
import { createRequestLimiter, type RequestLimiter } from './limits/apply.js';
import { NO_EXCLUSIONS } from './pool/balancer.js';
import type { Upstream } from './pool/upstream.js';
import { requestPrologue } from './prologue.js';
import { isIdempotent, nextUpstream, retriesAfter, retriesOnStatus } from './retry.js';
import { redirectLocation } from './routes/rewrite.js';
import { routeRequest } from './routes/route-request.js';
import type { Runtime } from './runtime.js';
import { answerFromDisk } from './static/static-route.js';
import { noRoute } from './status/metrics.js';
import { type AttemptOwner, UpstreamAttempt } from './upstream-attempt.js';

/** Told once per finished request; feeds metrics and the status page. */
export interface ForwardObserver {
  /** `route`: the pool's route name, a static or redirect route's name, or `noRoute`. */
  onResponse(route: string, upstream: Upstream | null, status: number, seconds: number): void;
}

export interface ForwarderOptions {
  getRuntime: () => Runtime;
  logger: Logger;
  /** Read per request: a reload may open another log (or turn it off). */
  readonly accessLog: AccessLog | null;
  observer?: ForwardObserver;
  /** True while draining: responses then carry Connection: close. */
  isClosing: () => boolean;
  /** Told the size of every body chunk streamed either way (see body-memory.ts). */
  onBodyBytes?: (bytes: number) => void;
  /** The process's temp files for buffered bodies (buffering.max_disk counts them all). */
  tempSpace: TempSpace;
  /** Rate limits (limits.requests), shared with WebSocket handshakes; else the forwarder's own. */
  limiter?: RequestLimiter;
}

/**
 * The HTTP request path, in the order a request takes it:
 *   handle:  body framing → request prologue (prologue.ts: hop-by-hop, trust, request id,
 *            forwarded headers) → body limit by Content-Length → client body timeout → with
 *            buffering.request, the whole body read (buffering/request-body.ts) before an attempt
 *   attempt: pick an upstream (retry.ts) → send it with undici on a kept-alive connection
 *            (upstream-attempt.ts, connections.ts) → response head cleaned and held until the
 *            first body byte → body written to the client: with buffering.response, what the
 *            client cannot take yet is held (buffering/response-buffer.ts), else backpressure
 *   failed:  retry per next_upstream (retry.ts), else a proxy-made error page (reject)
 *   finish:  metrics and the access log, once the response is over.
 * WebSocket handshakes share the prologue and the retry policy (websocket.ts).
 */
export function createForwarder(options: ForwarderOptions) {
  const { getRuntime, logger, observer, isClosing, onBodyBytes, tempSpace } = options;
  const limiter = options.limiter ?? createRequestLimiter();
  const countBodyBytes = onBodyBytes ? (chunk: Buffer) => onBodyBytes(chunk.length) : null;

  const owner: AttemptOwner = { sending, retryStatus, failed, cut, completed, onBodyBytes, tempSpace };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const runtime = getRuntime();
    const { config } = runtime;
    const framing = bodyFraming(req.headers);
    const origin = requestPrologue(
      req.headers,
      req.socket.remoteAddress,
      runtime.trust,
      false,
      schemeOf(req.socket),
    );
    const ex = createExchange(req, res, runtime, origin, isIdempotent(req.method));
    res.once('close', () => finish(ex));
    const routing = routeRequest(req, runtime.match);
    if (routing.kind === 'bad') {
      // A target or Host no front can route: the client's stream is suspect, so it ends here.
      res.shouldKeepAlive = false;
      return reject(ex, new ProxyError('GH_ERR_BAD_REQUEST', routing.reason));
    }
    if (routing.kind === 'none')
      return reject(ex, new ProxyError('GH_ERR_NO_ROUTE', `no route for host "${routing.host}"`));
    const { route } = routing;
    ex.route = route;
    ex.backend = route.backend;
    ex.target = routing.forwarded;
    if (route.config.target.kind === 'redirect') return redirect(ex, route.config.target);
    if (route.config.target.kind === 'static')
      return answerFromDisk(ex, route.config, route.config.target, isClosing());
    // Every other route has a pool; never reach attempt() without one.
    if (!route.backend)
      return reject(ex, new ProxyError('GH_ERR_NO_ROUTE', `route ${route.config.name} has no pool`));

    // Before the body counts as one (no lingering close): nothing reads it, and Node drains it
    // after the answer.
    const length = framing.contentLength;
    if (length !== undefined && Number(length) > config.clientMaxBodySize) {
      return reject(
        ex,
        new ProxyError('GH_ERR_BODY_TOO_LARGE', `body of ${length} bytes over client_max_body_size`),
      );
    }
    // nginx's order: the body size (find-config phase) before limit_req (preaccess).
    limiter.admit(
      {
        route: route.config.name,
        limits: route.config.limits ?? config.limits,
        clientIp: origin.clientIp,
        headers: req.headers,
        client: res,
      },
      () => admitted(ex, framing),
      (error) => reject(ex, error),
    );
  }

  /** A request the rate limit let through (at once, or after its delay): its body, then an attempt. */
  function admitted(ex: Exchange, framing: BodyFraming): void {
    const { req, res, origin } = ex;
    const { config } = ex.runtime;
    const length = framing.contentLength;
    ex.hasBody = hasBody(framing);
    ex.countBody = framing.chunked && length === undefined;
    if (origin.close || isClosing()) res.shouldKeepAlive = false;
    // Node answered any Expect: 100-continue already; the upstream must not answer it again.
    if (req.headers.expect !== undefined) delete req.headers.expect;
    if (ex.hasBody) {
      watchClientBody(req, config.timeouts.clientBody, () =>
        reject(ex, new ProxyError('GH_ERR_CLIENT_TIMEOUT', 'client body timeout')),
      );
      if (config.buffering.request) return bufferBody(ex);
    }
    attempt(ex);
  }

  /** nginx proxy_request_buffering: no worker is picked (or held) while a slow client uploads. */
  function bufferBody(ex: Exchange): void {
    const { req } = ex;
    const { buffering, clientMaxBodySize } = ex.runtime.config;
    const body = new RequestBody(tempSpace, buffering);
    ex.requestBody = body;
    if (countBodyBytes) req.on('data', countBodyBytes);
    readRequestBody(req, body, { maxBodySize: clientMaxBodySize, memory: buffering.memory }, (error) => {
      if (ex.settled || ex.done) return;
      if (error) return reject(ex, error);
      // Sent framed by its length, whatever framing the client used (the prologue took TE away).
      req.headers['content-length'] = String(body.size);
      attempt(ex);
    });
  }

  function attempt(ex: Exchange): void {
    // A retry never goes back to an upstream this request already tried.
    if (ex.upstream && !ex.tried) ex.tried = new Set([ex.upstream]);
    const backend = ex.backend!;
    const upstream = nextUpstream(
      backend.balancer,
      backend.pool,
      ex.origin.clientIp,
      ex.tried ?? NO_EXCLUSIONS,
    );
    if (!upstream) {
      return reject(ex, ex.lastError ?? new ProxyError('GH_ERR_NO_UPSTREAM', 'no upstream available'));
    }
    ex.tried?.add(upstream);
    ex.upstream = upstream;
    ex.attempts++;
    ex.attemptStarted = performance.now();
    ex.holding = true;
    upstream.inFlight++;
    upstream.requests++;
    ex.attempt = new UpstreamAttempt(ex, upstream, owner);
    ex.attempt.start();
  }

  /** The request goes out: the client's body flows into this attempt (and can never be sent again). */
  function sending(current: UpstreamAttempt): void {
    const { ex, stream } = current;
    if (!stream || ex.settled) return;
    ex.bodyStarted = true;
    ex.req.pipe(stream);
    if (ex.countBody) {
      limitStreamedBody(ex.req, ex.runtime.config.clientMaxBodySize, () =>
        reject(ex, new ProxyError('GH_ERR_BODY_TOO_LARGE', 'chunked body over client_max_body_size')),
      );
    }
    if (countBodyBytes) ex.req.on('data', countBodyBytes);
  }

  function retryStatus(current: UpstreamAttempt, status: number): boolean {
    const { ex, upstream } = current;
    if (!retriesOnStatus(ex.runtime.retry, status, ex) || ex.res.destroyed) return false;
    current.discard();
    release(ex, 'failure');
    ex.lastError = new ProxyError('GH_ERR_UPSTREAM_STATUS', `upstream answered ${status}`, true);
    logger.warn(
      { requestId: ex.origin.requestId, upstream: upstream.address, status },
      'upstream status; trying the next upstream',
    );
    attempt(ex);
    return true;
  }

  function failed(current: UpstreamAttempt, err: Error): void {
    const { ex, upstream } = current;
    if (ex.attempt !== current || ex.settled || ex.done) return;
    const error = toProxyError(err, current.requestSent);
    release(ex, 'failure');
    ex.lastError = error;
    if (!ex.res.headersSent && !ex.res.destroyed && retriesAfter(ex.runtime.retry, error, ex)) {
      logger.warn(
        {
          requestId: ex.origin.requestId,
          upstream: upstream.address,
          code: error.code,
          reason: error.message,
        },
        'upstream failed; trying the next upstream',
      );
      return attempt(ex);
    }
    reject(ex, error);
  }

  function cut(current: UpstreamAttempt, err: Error): void {
    const { ex } = current;
    if (ex.done) return;
    release(ex, 'failure');
    logger.error(
      { requestId: ex.origin.requestId, upstream: current.upstream.address, reason: err.message },
      'upstream failed mid-response',
    );
    ex.res.destroy();
  }

  function completed(current: UpstreamAttempt): void {
    release(current.ex, 'success');
  }

  /** Ends the current attempt's hold on its upstream, with the outcome for passive health. */
  function release(ex: Exchange, outcome: 'success' | 'failure' | 'aborted'): void {
    if (!ex.holding) return;
    ex.holding = false;
    const upstream = ex.upstream!;
    upstream.inFlight--;
    if (outcome === 'success') upstream.recordSuccess();
    else if (outcome === 'failure') upstream.recordFailure(Date.now());
  }

  /** Answers the client with a proxy-made error (or cuts the response if it already started). */
  function reject(ex: Exchange, error: ProxyError): void {
    const { res, req } = ex;
    if (ex.settled) return;
    ex.settled = true;
    release(ex, 'aborted');
    ex.attempt?.cancel();
    ex.requestBody?.dispose();
    req.unpipe();
    const log = error.status >= 500 ? logger.error.bind(logger) : logger.warn.bind(logger);
    log(
      {
        requestId: ex.origin.requestId,
        method: req.method,
        url: req.url,
        upstream: ex.upstream?.address ?? null,
        code: error.code,
        status: error.status,
        reason: error.message,
      },
      reasonPhrase(error.status),
    );
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = errorPage(error.status);
    // A body the client is still sending was not read: it is drained and the connection closed
    // after it (lingerThenClose). Node's own close-after-response would reset it mid-upload.
    // A client too slow to send its body is not waited for any longer: 408 and close (nginx too).
    const linger = ex.hasBody && !req.complete && error.code !== 'GH_ERR_CLIENT_TIMEOUT';
    if (linger) res.shouldKeepAlive = true;
    else if (error.code === 'GH_ERR_CLIENT_TIMEOUT') res.shouldKeepAlive = false;
    const wait = retryAfter(error);
    res.writeHead(error.status, {
      'Content-Type': 'text/html',
      'Content-Length': Buffer.byteLength(body),
      'X-Request-Id': ex.origin.requestId,
      ...(wait === undefined ? {} : { 'Retry-After': String(wait) }),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    ex.bytesSent = req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
    if (linger) lingerThenClose(req);
  }

  /** A redirect route's answer (nginx `return 301 …`): made here, no pool involved. */
  function redirect(ex: Exchange, target: RouteRedirectTarget): void {
    const { req, res } = ex;
    ex.settled = true;
    const body = errorPage(target.status);
    res.writeHead(target.status, {
      Location: redirectLocation(target.to, ex.target),
      'Content-Type': 'text/html',
      'Content-Length': Buffer.byteLength(body),
      'X-Request-Id': ex.origin.requestId,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    ex.bytesSent = req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
  }

  function finish(ex: Exchange): void {
    if (ex.done) return;
    ex.done = true;
    release(ex, 'aborted');
    // The client went away (or the response ended): nothing more is wanted from the upstream.
    ex.attempt?.cancel();
    ex.requestBody?.dispose();
    const { req, res } = ex;
    const status = res.writableFinished ? res.statusCode : res.headersSent ? res.statusCode : 499;
    const seconds = (performance.now() - ex.started) / 1000;
    observer?.onResponse(ex.backend?.name ?? ex.route?.config.name ?? noRoute, ex.upstream, status, seconds);
    const accessLog = options.accessLog;
    if (accessLog) {
      accessLog.write({
        remoteAddr: ex.origin.clientIp,
        method: req.method ?? '-',
        url: req.url ?? '-',
        httpVersion: req.httpVersion,
        status,
        bytesSent: ex.bytesSent,
        referer: req.headers.referer,
        userAgent: req.headers['user-agent'],
        requestId: ex.origin.requestId,
        upstream: ex.upstream?.address ?? null,
        requestTime: Math.round(seconds * 1000) / 1000,
        upstreamTime: ex.upstream ? Math.round(performance.now() - ex.attemptStarted) / 1000 : null,
      });
    }
  }

  return { handle };
}
