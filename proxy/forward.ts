import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { ProxyServer } from 'http-proxy-3';
import type { Logger } from '../app/logger.js';
import type { AccessLog } from './access-log.js';
import { errorPage, ProxyError, reasonPhrase, toProxyError } from './errors.js';
import { forwardedHeaders, peerAddress, requestId, responseHeaders, stripHopByHop } from './headers.js';
import { NO_EXCLUSIONS } from './pool/balancer.js';
import { pickDespiteHealth } from './pool/panic.js';
import type { Upstream } from './pool/upstream.js';
import type { Runtime } from './runtime.js';

/** Told once per finished request; feeds metrics and the status page. */
export interface ForwardObserver {
  onResponse(upstream: Upstream | null, status: number, seconds: number): void;
}

export interface ForwarderOptions {
  proxy: ProxyServer;
  getRuntime: () => Runtime;
  logger: Logger;
  /** Read per request: a reload may open another log (or turn it off). */
  readonly accessLog: AccessLog | null;
  observer?: ForwardObserver;
  /** True while draining: responses then carry Connection: close. */
  isClosing: () => boolean;
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

/** One client request's journey through one or more upstream attempts. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  runtime: Runtime;
  requestId: string;
  clientIp: string;
  started: number;
  hasBody: boolean;
  /** The body has no Content-Length: its size is counted as it streams. */
  countBody: boolean;
  idempotent: boolean;
  /** Upstreams tried so far (the first one is in `upstream` until a retry needs the set). */
  tried: Set<Upstream> | null;
  attempts: number;
  upstream: Upstream | null;
  attemptStarted: number;
  /** The current attempt holds an in-flight slot on `upstream`. */
  holding: boolean;
  /** The current attempt's request (head or body) may have reached the upstream. */
  requestSent: boolean;
  /** Body bytes were read from the client: the body cannot be sent again. */
  bodyStarted: boolean;
  timedOut: 'connect' | 'read' | null;
  lastError: ProxyError | null;
  bytesSent: number;
  /** The current attempt's upstream request, to abort it when the exchange is settled early. */
  proxyReq: ClientRequest | null;
  /** A response (proxied or proxy-made) has been decided: no more attempts. */
  settled: boolean;
  done: boolean;
}

const EXCHANGE = Symbol('gatehouse.exchange');
type Tagged = IncomingMessage & { [EXCHANGE]?: Exchange };

/**
 * The request path: requestId → forwarded headers → hop-by-hop removal → body limit → pick an
 * upstream → forward (http-proxy-3) → retry per next_upstream → response head cleaned →
 * body piped. Each step is a small function; this file only orders them.
 */
export function createForwarder(options: ForwarderOptions) {
  const { proxy, getRuntime, logger, observer, isClosing } = options;

  proxy.on('proxyReq', onProxyReq);
  proxy.on('proxyRes', onProxyRes);

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const runtime = getRuntime();
    const { config, trust } = runtime;
    const headers = req.headers;
    const peer = peerAddress(req.socket.remoteAddress);
    const trusted = trust.isTrusted(peer);
    const clientIp = trusted
      ? trust.clientAddress(peer, headers['x-forwarded-for'] as string | undefined)
      : peer;
    const ex: Exchange = {
      req,
      res,
      runtime,
      requestId: requestId(headers, trusted),
      clientIp,
      started: performance.now(),
      hasBody: false,
      countBody: false,
      idempotent: IDEMPOTENT.has(req.method ?? ''),
      tried: null,
      attempts: 0,
      upstream: null,
      attemptStarted: 0,
      holding: false,
      requestSent: false,
      bodyStarted: false,
      timedOut: null,
      lastError: null,
      bytesSent: 0,
      proxyReq: null,
      settled: false,
      done: false,
    };
    (req as Tagged)[EXCHANGE] = ex;
    res.once('close', () => finish(ex));

    const length = headers['content-length'];
    const chunked = headers['transfer-encoding'] !== undefined;
    if (length !== undefined && Number(length) > config.clientMaxBodySize) {
      return reject(
        ex,
        new ProxyError('GH_ERR_BODY_TOO_LARGE', `body of ${length} bytes over client_max_body_size`),
      );
    }
    ex.hasBody = chunked || (length !== undefined && length !== '0');
    forwardedHeaders(headers, { peer, trusted, clientIp });
    if (stripHopByHop(headers) || isClosing()) res.shouldKeepAlive = false;
    // Node answered any Expect: 100-continue already; the upstream must not answer it again.
    if (headers.expect !== undefined) delete headers.expect;
    ex.countBody = chunked && length === undefined;
    if (ex.hasBody) watchBody(ex);
    attempt(ex);
  }

  /** Client body timeout while the body is read. */
  function watchBody(ex: Exchange): void {
    const { req, runtime } = ex;
    const bodyTimeout = runtime.config.timeouts.clientBody;
    if (bodyTimeout <= 0) return;
    const socket = req.socket;
    const onTimeout = () => {
      if (!req.complete) reject(ex, new ProxyError('GH_ERR_CLIENT_TIMEOUT', 'client body timeout'));
    };
    socket.setTimeout(bodyTimeout, onTimeout);
    // The socket outlives the request (keep-alive): take the timer and its listener off again.
    const clear = () => {
      socket.setTimeout(0);
      socket.removeListener('timeout', onTimeout);
    };
    req.once('end', clear);
    req.once('close', clear);
  }

  /**
   * For a body of unknown length (chunked), client_max_body_size is enforced while it streams.
   * Attached only when the body starts flowing to an upstream: a 'data' listener would start
   * the flow itself and lose chunks before the upstream socket is ready.
   */
  function countBody(ex: Exchange): void {
    const limit = ex.runtime.config.clientMaxBodySize;
    let received = 0;
    ex.req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit)
        reject(ex, new ProxyError('GH_ERR_BODY_TOO_LARGE', 'chunked body over client_max_body_size'));
    });
  }

  function attempt(ex: Exchange): void {
    const { runtime, req, res } = ex;
    const exclude = ex.tried ?? NO_EXCLUSIONS;
    const upstream =
      runtime.balancer.pick(runtime.pool, ex.clientIp, exclude) ?? pickDespiteHealth(runtime.pool, exclude);
    if (!upstream) {
      return reject(ex, ex.lastError ?? new ProxyError('GH_ERR_NO_UPSTREAM', 'no upstream available'));
    }
    if (ex.upstream) {
      ex.tried ??= new Set([ex.upstream]);
      ex.tried.add(upstream);
    }
    ex.upstream = upstream;
    ex.attempts++;
    ex.attemptStarted = performance.now();
    ex.holding = true;
    ex.requestSent = false;
    ex.timedOut = null;
    upstream.inFlight++;
    upstream.requests++;
    const buffer = ex.hasBody ? new PassThrough() : undefined;
    proxy.web(
      req,
      res,
      {
        target: { host: upstream.host, port: upstream.port },
        agent: runtime.agent,
        selfHandleResponse: true,
        buffer,
      },
      (err) => onAttemptError(ex, upstream, err),
    );
  }

  /** The upstream socket is assigned: arm the timeouts, and let the body flow once connected. */
  function onProxyReq(
    proxyReq: ClientRequest,
    req: IncomingMessage,
    _res: ServerResponse,
    opts: { buffer?: unknown },
    socket: Socket,
  ): void {
    const ex = (req as Tagged)[EXCHANGE];
    if (!ex) return;
    ex.proxyReq = proxyReq;
    const { timeouts } = ex.runtime.config;
    const connected = () => {
      ex.requestSent = true;
      if (timeouts.read > 0) {
        proxyReq.setTimeout(timeouts.read, () => {
          ex.timedOut = 'read';
          proxyReq.destroy();
        });
      }
      const gate = opts.buffer as PassThrough | undefined;
      if (gate && !ex.settled) {
        ex.bodyStarted = true;
        req.pipe(gate);
        if (ex.countBody) countBody(ex);
      }
    };
    if (socket.connecting) {
      const timer =
        timeouts.connect > 0
          ? setTimeout(() => {
              ex.timedOut = 'connect';
              proxyReq.destroy();
            }, timeouts.connect)
          : null;
      socket.once('connect', () => {
        if (timer) clearTimeout(timer);
        connected();
      });
      socket.once('close', () => {
        if (timer) clearTimeout(timer);
      });
    } else {
      connected();
    }
  }

  function onProxyRes(proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): void {
    const ex = (req as Tagged)[EXCHANGE];
    if (!ex || ex.settled) {
      proxyRes.resume();
      return;
    }
    const upstream = ex.upstream!;
    const status = proxyRes.statusCode ?? 502;
    if (ex.runtime.retryOn.statuses.has(status) && ex.idempotent && !ex.bodyStarted && canTryAgain(ex)) {
      proxyRes.resume();
      release(ex, 'failure');
      ex.lastError = new ProxyError('GH_ERR_UPSTREAM_STATUS', `upstream answered ${status}`, true);
      logger.warn(
        { requestId: ex.requestId, upstream: upstream.address, status },
        'upstream status; trying the next upstream',
      );
      return attempt(ex);
    }
    if (res.headersSent || res.destroyed) {
      proxyRes.resume();
      return;
    }
    ex.settled = true;
    res.writeHead(status, proxyRes.statusMessage, responseHeaders(proxyRes.rawHeaders, ex.requestId));
    if (options.accessLog)
      proxyRes.on('data', (chunk: Buffer) => {
        ex.bytesSent += chunk.length;
      });
    proxyRes.once('end', () => release(ex, 'success'));
    proxyRes.once('error', () => res.destroy());
    proxyRes.once('aborted', () => res.destroy());
    proxyRes.pipe(res);
  }

  function onAttemptError(ex: Exchange, upstream: Upstream, err: Error): void {
    if (ex.upstream !== upstream || ex.settled || ex.done) return;
    const error =
      ex.timedOut === 'connect'
        ? new ProxyError('GH_ERR_UPSTREAM_CONNECT_TIMEOUT', 'upstream connect timeout', false)
        : ex.timedOut === 'read'
          ? new ProxyError('GH_ERR_UPSTREAM_TIMEOUT', 'upstream read timeout', true)
          : toProxyError(err, ex.requestSent);
    release(ex, 'failure');
    ex.lastError = error;
    const { res, runtime } = ex;
    const retryable = error.kind === 'timeout' ? runtime.retryOn.timeout : runtime.retryOn.error;
    const resendable = !ex.bodyStarted && (!error.requestSent || ex.idempotent);
    if (!res.headersSent && retryable && resendable && canTryAgain(ex)) {
      logger.warn(
        { requestId: ex.requestId, upstream: upstream.address, code: error.code, reason: error.message },
        'upstream failed; trying the next upstream',
      );
      return attempt(ex);
    }
    reject(ex, error);
  }

  function canTryAgain(ex: Exchange): boolean {
    const tries = ex.runtime.config.retries.tries;
    return (tries === 0 || ex.attempts < tries) && !ex.res.destroyed;
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
    if (ex.proxyReq && !ex.proxyReq.destroyed) ex.proxyReq.destroy();
    req.unpipe();
    const log = error.status >= 500 ? logger.error.bind(logger) : logger.warn.bind(logger);
    log(
      {
        requestId: ex.requestId,
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
    const linger = ex.hasBody && !req.complete;
    if (linger) res.shouldKeepAlive = true;
    res.writeHead(error.status, {
      'Content-Type': 'text/html',
      'Content-Length': Buffer.byteLength(body),
      'X-Request-Id': ex.requestId,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    if (linger) lingerThenClose(req, res);
  }

  function finish(ex: Exchange): void {
    if (ex.done) return;
    ex.done = true;
    release(ex, 'aborted');
    const { req, res } = ex;
    const status = res.writableFinished ? res.statusCode : res.headersSent ? res.statusCode : 499;
    const seconds = (performance.now() - ex.started) / 1000;
    observer?.onResponse(ex.upstream, status, seconds);
    const accessLog = options.accessLog;
    if (accessLog) {
      accessLog.write({
        remoteAddr: ex.clientIp,
        method: req.method ?? '-',
        url: req.url ?? '-',
        httpVersion: req.httpVersion,
        status,
        bytesSent: ex.bytesSent,
        referer: req.headers.referer,
        userAgent: req.headers['user-agent'],
        requestId: ex.requestId,
        upstream: ex.upstream?.address ?? null,
        requestTime: Math.round(seconds * 1000) / 1000,
        upstreamTime: ex.upstream ? Math.round(performance.now() - ex.attemptStarted) / 1000 : null,
      });
    }
  }

  return { handle };
}

/** How long, and how much, of an unwanted request body is read after an early answer. */
const LINGER_MS = 5000;
const LINGER_BYTES = 64 * 1024 * 1024;

/**
 * nginx's lingering close: after answering early (413, 408, an upstream error) while the client
 * is still sending, read and discard its body. Closing at once would reset the connection and the
 * client would see a broken pipe instead of the answer. A body that does not end within
 * LINGER_MS, or is larger than LINGER_BYTES, gets the connection closed.
 */
function lingerThenClose(req: IncomingMessage, _res: ServerResponse): void {
  const socket = req.socket;
  let discarded = 0;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > LINGER_BYTES) socket.destroy();
  });
  // Drained in time: the connection stays open for the client's next request (the answer said
  // keep-alive), as the client may already be writing it.
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
