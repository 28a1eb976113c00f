import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import type { ProxyServer, ProxyTargetUrl } from 'http-proxy-3';
import type { Pool as ConnectionPool, Dispatcher } from 'undici';
import type { Logger } from '../process/logger.js';
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
  /** Told the size of every body chunk streamed either way (see body-memory.ts). */
  onBodyBytes?: (bytes: number) => void;
}

/**
 * Read timeouts shorter than this run on a timer of ours: undici's own timers have a resolution
 * of about a second, fine for the usual 60 s, not for a 200 ms timeout.
 */
const PRECISE_BELOW = 2000;

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
  lastError: ProxyError | null;
  bytesSent: number;
  /** The current attempt, to cancel it when the exchange is settled early or the client leaves. */
  attempt: { cancel(): void; dispatch(): void } | null;
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
  const { proxy, getRuntime, logger, observer, isClosing, onBodyBytes } = options;
  const countBodyBytes = onBodyBytes ? (chunk: Buffer) => onBodyBytes(chunk.length) : null;

  /**
   * The HTTP transport, as an http-proxy-3 pass in place of its own `stream` pass: the request goes
   * through http-proxy-3's API and passes, then undici sends it (about half the CPU per request
   * of node:http's client; the transport study in bench/). WebSocket stays on http-proxy-3's own path.
   */
  proxy.before('web', 'stream', function dispatchPass(req: IncomingMessage, res: ServerResponse, opts) {
    const ex = (req as Tagged)[EXCHANGE];
    if (!ex?.attempt) return false;
    proxy.emit('start', req, res, opts.target as ProxyTargetUrl);
    ex.attempt.dispatch();
    return true;
  });

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const runtime = getRuntime();
    const { config, trust } = runtime;
    const headers = req.headers;
    // Framing as the client sent it (Node has checked it: CL with TE, or two CLs, never get here).
    const length = headers['content-length'];
    const chunked = headers['transfer-encoding'] !== undefined;
    // Hop-by-hop first: a header the client names in Connection must not take away one the
    // proxy sets next (Connection: X-Real-IP).
    const close = stripHopByHop(headers);
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
      lastError: null,
      bytesSent: 0,
      attempt: null,
      settled: false,
      done: false,
    };
    (req as Tagged)[EXCHANGE] = ex;
    res.once('close', () => finish(ex));

    if (length !== undefined && Number(length) > config.clientMaxBodySize) {
      return reject(
        ex,
        new ProxyError('GH_ERR_BODY_TOO_LARGE', `body of ${length} bytes over client_max_body_size`),
      );
    }
    ex.hasBody = chunked || (length !== undefined && length !== '0');
    forwardedHeaders(headers, { peer, trusted, clientIp });
    if (close || isClosing()) res.shouldKeepAlive = false;
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
    const onTimeout = () => {
      if (!req.complete) reject(ex, new ProxyError('GH_ERR_CLIENT_TIMEOUT', 'client body timeout'));
    };
    // On the request, not the socket: Node's server destroys a timed-out socket unless the
    // request (or response) listens for the timeout.
    req.setTimeout(bodyTimeout, onTimeout);
    // The socket outlives the request (keep-alive): take the timer off again.
    const clear = () => {
      req.socket.setTimeout(0);
      req.removeListener('timeout', onTimeout);
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
    // A retry never goes back to an upstream this request already tried.
    if (ex.upstream && !ex.tried) ex.tried = new Set([ex.upstream]);
    const exclude = ex.tried ?? NO_EXCLUSIONS;
    const upstream =
      runtime.balancer.pick(runtime.pool, ex.clientIp, exclude) ?? pickDespiteHealth(runtime.pool, exclude);
    if (!upstream) {
      return reject(ex, ex.lastError ?? new ProxyError('GH_ERR_NO_UPSTREAM', 'no upstream available'));
    }
    ex.tried?.add(upstream);
    ex.upstream = upstream;
    ex.attempts++;
    ex.attemptStarted = performance.now();
    ex.holding = true;
    ex.requestSent = false;
    upstream.inFlight++;
    upstream.requests++;
    ex.attempt = new UpstreamAttempt(ex, upstream);
    // Through http-proxy-3's API: its passes run, then ours (dispatchPass) sends the request.
    proxy.web(req, res, { target: { host: upstream.host, port: upstream.port } });
  }

  /**
   * One attempt at one upstream, as an undici dispatch handler writing straight into the client
   * response: no stream objects on the upstream side, backpressure by pausing the upstream
   * parser while the client socket is full.
   */
  class UpstreamAttempt implements Dispatcher.DispatchHandler {
    abort: ((err?: Error) => void) | null = null;
    /** The response was handed to the client (or thrown away for a retry): errors after it are not retried. */
    responded = false;
    discarded = false;
    complete = false;
    /** A copy of the body for this attempt only, fed from the client once the upstream is connected. */
    readonly body: PassThrough | null;

    constructor(
      readonly ex: Exchange,
      readonly upstream: Upstream,
    ) {
      this.body = ex.hasBody ? new PassThrough() : null;
    }

    /** Our own read timer for timeouts under PRECISE_BELOW (undici's timers tick once a second). */
    private readTimer: NodeJS.Timeout | null = null;
    /** The connection pool this attempt went out on. */
    private pool: ConnectionPool | null = null;

    dispatch(): void {
      const { ex } = this;
      const { req } = ex;
      const timeout = ex.runtime.config.timeouts.read;
      const read = timeout >= PRECISE_BELOW ? timeout : 0;
      try {
        this.pool = ex.runtime.connections.for(this.upstream);
        this.pool.dispatch(
          {
            path: req.url ?? '/',
            method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
            headers: req.headers,
            body: this.body,
            headersTimeout: read,
            bodyTimeout: read,
          },
          this,
        );
      } catch (err) {
        this.onError(err as Error);
      }
    }

    onConnect(abort: (err?: Error) => void): void {
      const { ex } = this;
      this.abort = abort;
      if (ex.attempt !== this) return abort();
      ex.requestSent = true;
      const timeout = ex.runtime.config.timeouts.read;
      if (timeout > 0 && timeout < PRECISE_BELOW) {
        this.readTimer = setTimeout(() => {
          this.readTimer = null;
          abort(new ProxyError('GH_ERR_UPSTREAM_TIMEOUT', 'upstream read timeout', true));
        }, timeout);
      }
      if (this.body && !ex.settled) {
        ex.bodyStarted = true;
        ex.req.pipe(this.body);
        if (ex.countBody) countBody(ex);
        if (countBodyBytes) ex.req.on('data', countBodyBytes);
      }
    }

    onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
      const { ex, upstream } = this;
      if (ex.attempt !== this || ex.settled) {
        this.discard();
        return false;
      }
      if (ex.runtime.retryOn.statuses.has(status) && ex.idempotent && !ex.bodyStarted && canTryAgain(ex)) {
        this.discard();
        release(ex, 'failure');
        ex.lastError = new ProxyError('GH_ERR_UPSTREAM_STATUS', `upstream answered ${status}`, true);
        logger.warn(
          { requestId: ex.requestId, upstream: upstream.address, status },
          'upstream status; trying the next upstream',
        );
        attempt(ex);
        return false;
      }
      const { res } = ex;
      if (res.headersSent || res.destroyed) {
        this.discard();
        return false;
      }
      ex.settled = true;
      this.responded = true;
      this.readTimer?.refresh();
      const seen = { close: false };
      res.writeHead(status, statusText, responseHeaders(rawHeaders, ex.requestId, seen));
      // A draining worker says close: send nothing more on connections opened before this answer.
      if (seen.close && this.pool) ex.runtime.connections.renew(upstream, this.pool);
      res.on('drain', resume);
      return true;
    }

    onData(chunk: Buffer): boolean {
      if (this.discarded) return false;
      this.readTimer?.refresh();
      this.ex.bytesSent += chunk.length;
      onBodyBytes?.(chunk.length);
      return this.ex.res.write(chunk);
    }

    onComplete(): void {
      this.stopTimer();
      if (this.discarded) return;
      this.complete = true;
      release(this.ex, 'success');
      this.ex.res.end();
    }

    onError(err: Error): void {
      const { ex } = this;
      this.stopTimer();
      this.complete = true;
      if (this.discarded || ex.attempt !== this || ex.done) return;
      if (this.responded) {
        // Part of the response is out: the client gets an incomplete message, never a wrong one.
        release(ex, 'failure');
        logger.error(
          { requestId: ex.requestId, upstream: this.upstream.address, reason: err.message },
          'upstream failed mid-response',
        );
        ex.res.destroy();
        return;
      }
      onAttemptError(ex, this.upstream, err);
    }

    /** Stops this attempt's upstream exchange (its connection is closed, never reused). */
    cancel(): void {
      if (this.complete) return;
      this.discarded = true;
      this.abort?.();
    }

    private stopTimer(): void {
      if (this.readTimer) clearTimeout(this.readTimer);
      this.readTimer = null;
    }

    private discard(): void {
      this.discarded = true;
      queueMicrotask(() => this.abort?.());
    }
  }

  function onAttemptError(ex: Exchange, upstream: Upstream, err: Error): void {
    if (ex.upstream !== upstream || ex.settled || ex.done) return;
    const error = toProxyError(err, ex.requestSent);
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
    ex.attempt?.cancel();
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
    // A client too slow to send its body is not waited for any longer: 408 and close (nginx too).
    const linger = ex.hasBody && !req.complete && error.code !== 'GH_ERR_CLIENT_TIMEOUT';
    if (linger) res.shouldKeepAlive = true;
    else if (error.code === 'GH_ERR_CLIENT_TIMEOUT') res.shouldKeepAlive = false;
    res.writeHead(error.status, {
      'Content-Type': 'text/html',
      'Content-Length': Buffer.byteLength(body),
      'X-Request-Id': ex.requestId,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    ex.bytesSent = req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
    if (linger) lingerThenClose(req, res);
  }

  function finish(ex: Exchange): void {
    if (ex.done) return;
    ex.done = true;
    release(ex, 'aborted');
    // The client went away (or the response ended): nothing more is wanted from the upstream.
    ex.attempt?.cancel();
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
