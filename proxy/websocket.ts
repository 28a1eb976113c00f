import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyServer } from 'http-proxy-3';
import type { Logger } from '../app/logger.js';
import { rawErrorResponse } from './errors.js';
import { forwardedHeaders, isWebSocketUpgrade, peerAddress, requestId, stripHopByHop } from './headers.js';
import { NO_EXCLUSIONS } from './pool/balancer.js';
import { pickDespiteHealth } from './pool/panic.js';
import type { Runtime } from './runtime.js';

export interface UpgradeHandlerOptions {
  proxy: ProxyServer;
  getRuntime: () => Runtime;
  logger: Logger;
  isClosing: () => boolean;
  /** The plain HTTP path, for upgrade requests that are not WebSocket handshakes. */
  handleHttp: (req: IncomingMessage, res: ServerResponse) => void;
  /** Open tunnels, so a drain can wait for them or cut them. */
  tunnels: Set<Duplex>;
}

/**
 * HTTP upgrades. Only WebSocket handshakes are tunnelled (http-proxy-3's `ws`); any other
 * Upgrade (h2c, …) is served as a plain request without its Upgrade header, on a connection
 * closed afterwards — an `Upgrade: h2c` never reaches a worker.
 */
export function createUpgradeHandler(options: UpgradeHandlerOptions) {
  const { proxy, getRuntime, logger, isClosing, handleHttp, tunnels } = options;

  return function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (isClosing()) {
      socket.end(rawErrorResponse(503));
      return;
    }
    if (!isWebSocketUpgrade(req.method, req.headers)) return serveAsHttp(req, socket, head);

    const runtime = getRuntime();
    const peer = peerAddress(req.socket.remoteAddress);
    const trusted = runtime.trust.isTrusted(peer);
    const clientIp = trusted
      ? runtime.trust.clientAddress(peer, req.headers['x-forwarded-for'] as string | undefined)
      : peer;
    const id = requestId(req.headers, trusted);
    forwardedHeaders(req.headers, { peer, trusted, clientIp });
    stripHopByHop(req.headers, true);
    const upstream =
      runtime.balancer.pick(runtime.pool, clientIp, NO_EXCLUSIONS) ??
      pickDespiteHealth(runtime.pool, NO_EXCLUSIONS);
    if (!upstream) {
      logger.error({ requestId: id, url: req.url, code: 'GH_ERR_NO_UPSTREAM' }, 'Bad Gateway');
      socket.end(rawErrorResponse(502));
      return;
    }
    upstream.inFlight++;
    upstream.requests++;
    tunnels.add(socket);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      upstream.inFlight--;
      tunnels.delete(socket);
    };
    socket.once('close', release);
    proxy.ws(req, socket, head, { target: { host: upstream.host, port: upstream.port } }, (err) => {
      upstream.recordFailure(Date.now());
      logger.error(
        { requestId: id, url: req.url, upstream: upstream.address, reason: err.message },
        'WebSocket upstream failed',
      );
      if (socket.writable) socket.write(rawErrorResponse(502));
      release();
    });
    // http-proxy-3 zeroes the socket timeout; a tunnel idle both ways this long is closed.
    const idle = runtime.config.timeouts.websocketIdle;
    if (idle > 0) (socket as Socket).setTimeout(idle, () => socket.destroy());
  };

  function serveAsHttp(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const length = req.headers['content-length'];
    if ((length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined) {
      // Node has handed the connection over; a body after an upgrade request cannot be framed.
      socket.end(rawErrorResponse(400));
      return;
    }
    if (head.length > 0) socket.unshift(head);
    delete req.headers.upgrade;
    // The parser is gone once Node emits 'upgrade': the request has no body left to read.
    if (!req.readableEnded) req.push(null);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.once('finish', () => {
      res.detachSocket(socket as Socket);
      socket.end();
    });
    handleHttp(req, res);
  }
}
