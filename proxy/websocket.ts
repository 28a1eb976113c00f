import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyServer } from 'http-proxy-3';
import type { Logger } from '../process/logger.js';
import { rawErrorResponse, retryAfter, toProxyError } from './errors.js';
import { isWebSocketUpgrade, schemeOf } from './headers.js';
import type { RequestLimiter } from './limits/apply.js';
import type { Upstream } from './pool/upstream.js';
import { requestPrologue } from './prologue.js';
import { nextUpstream, retriesAfter } from './retry.js';
import { routeRequest } from './routes/route-request.js';
import type { Runtime } from './runtime.js';

const EMPTY = Buffer.alloc(0);

export interface UpgradeHandlerOptions {
  proxy: ProxyServer;
  getRuntime: () => Runtime;
  logger: Logger;
  isClosing: () => boolean;
  /** The plain HTTP path, for upgrade requests that are not WebSocket handshakes. */
  handleHttp: (req: IncomingMessage, res: ServerResponse) => void;
  /** Open tunnels, so a drain can wait for them or cut them. */
  tunnels: Set<Duplex>;
  /** Rate limits: a handshake counts as a request of its route (nginx's limit_req sees it as one). */
  limiter: RequestLimiter;
}

/**
 * HTTP upgrades. Only WebSocket handshakes are tunnelled, by http-proxy-3's `ws` (the handshake
 * and the two-way pipe; the HTTP path does not use the library). The handshake goes through the
 * same request prologue and retry policy as an HTTP request. Any other Upgrade (h2c, …) is served
 * as a plain request without its Upgrade header, on a connection closed afterwards — an
 * `Upgrade: h2c` never reaches a worker.
 */
/** How long a refused upgrade's connection may stay half-closed, waiting for the client's FIN. */
const REFUSED_LINGER_MS = 5000;

export function createUpgradeHandler(options: UpgradeHandlerOptions) {
  const { proxy, getRuntime, logger, isClosing, handleHttp, tunnels, limiter } = options;

  return function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (isClosing()) {
      socket.end(rawErrorResponse(503));
      return;
    }
    if (!isWebSocketUpgrade(req.method, req.headers)) return serveAsHttp(req, socket, head);

    const runtime = getRuntime();
    // Routed as an HTTP request would be; a handshake to a route without a pool (redirect, static),
    // to no route or with a bad target is answered by the HTTP path, as a plain request.
    const routing = routeRequest(req, runtime.match);
    const backend = routing.kind === 'route' ? routing.route.backend : null;
    if (routing.kind !== 'route' || !backend) return serveAsHttp(req, socket, head);
    // http-proxy-3 sends req.url on: origin form, the prefix stripped when the route says so.
    req.url = routing.forwarded;
    const origin = requestPrologue(
      req.headers,
      req.socket.remoteAddress,
      runtime.trust,
      true,
      schemeOf(req.socket),
    );
    const client = socket as Socket & { destroySoon: () => void };
    const destroySoon = client.destroySoon.bind(client);
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    const tried = new Set<Upstream>();

    const badGateway = (code: string): void => {
      logger.error({ requestId: origin.requestId, url: req.url, code, tried: tried.size }, 'Bad Gateway');
      Reflect.deleteProperty(client, 'destroySoon');
      socket.end(rawErrorResponse(502));
    };

    const tryNext = (): void => {
      const upstream = socket.destroyed
        ? null
        : nextUpstream(backend.balancer, backend.pool, origin.clientIp, tried);
      if (!upstream) return badGateway('GH_ERR_NO_UPSTREAM');
      tried.add(upstream);
      upstream.inFlight++;
      upstream.requests++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        upstream.inFlight--;
      };
      socket.once('close', release);
      // http-proxy-3 destroys the client socket right after reporting a failed handshake; held
      // back while another upstream may still take it (nothing was written to the client yet).
      // Once something was written — a worker's refusal (a 404 instead of 101) relayed whole —
      // the socket closes as the library means it to, and its close ends the books.
      client.destroySoon = () => {
        if (client.bytesWritten > 0) destroySoon();
      };
      proxy.ws(
        req,
        socket,
        tried.size === 1 ? head : EMPTY,
        { target: { host: upstream.host, port: upstream.port } },
        (err) => {
          release();
          socket.off('close', release);
          if (client.bytesWritten > 0) {
            // The tunnel was open (the 101 went out) and broke: close it, nothing to retry.
            Reflect.deleteProperty(client, 'destroySoon');
            socket.destroy();
            return;
          }
          upstream.recordFailure(Date.now());
          // A handshake is a GET without a body: sent again on the next upstream like one.
          const error = toProxyError(err, true);
          const so = { attempts: tried.size, idempotent: true, bodyStarted: false };
          if (!retriesAfter(runtime.retry, error, so)) return badGateway(error.code);
          logger.warn(
            { requestId: origin.requestId, url: req.url, upstream: upstream.address, reason: err.message },
            'WebSocket upstream failed; trying the next upstream',
          );
          tryNext();
        },
      );
    };
    const open = (): void => {
      if (socket.destroyed) return;
      tryNext();
      // http-proxy-3 zeroes the socket timeout; a tunnel idle both ways this long is closed.
      const idle = runtime.config.timeouts.websocketIdle;
      if (idle > 0) (socket as Socket).setTimeout(idle, () => socket.destroy());
    };
    const { route } = routing;
    const limits = route.config.limits ?? runtime.config.limits;
    const limited = {
      route: route.config.name,
      limits,
      clientIp: origin.clientIp,
      headers: req.headers,
      client: socket,
    };
    limiter.admit(limited, open, (error) => {
      logger.warn(
        { requestId: origin.requestId, url: req.url, code: error.code, reason: error.message },
        'Too Many Requests',
      );
      endRefused(socket, rawErrorResponse(error.status, retryAfter(error)));
    });
  };

  function serveAsHttp(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const length = req.headers['content-length'];
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
      // Node has handed the connection over; a body after an upgrade request cannot be framed.
      endRefused(socket, rawErrorResponse(400));
      return;
    }
    if (head.length > 0) socket.unshift(head);
    delete req.headers.upgrade;
    // The parser is gone once Node emits 'upgrade': the request has no body left to read.
    if (!req.readableEnded) req.push(null);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    // The socket is closed after the answer; its close ends the response's books (drain, log).
    res.once('finish', () => socket.end());
    handleHttp(req, res);
  }
}

/** Answers a handed-over socket and closes it once the client has had the answer. */
function endRefused(socket: Duplex, response: string): void {
  socket.end(response);
  // Handed over, the socket no longer flows: unread, the client's FIN would never be seen and
  // the connection never closed (a leaked fd, found by test/hostile/). Read and drop what comes,
  // for a bounded while.
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS).unref();
  socket.once('close', () => clearTimeout(linger));
}
