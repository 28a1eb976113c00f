import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyServer } from 'http-proxy-3';
import type { Logger } from '../process/logger.js';
import { rawErrorResponse } from './errors.js';
import { forwardedHeaders, isWebSocketUpgrade, peerAddress, requestId, stripHopByHop } from './headers.js';
import { pickDespiteHealth } from './pool/panic.js';
import type { Upstream } from './pool/upstream.js';
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
    const headers = req.headers;
    stripHopByHop(headers, true);
    const peer = peerAddress(req.socket.remoteAddress);
    const trusted = runtime.trust.isTrusted(peer);
    const clientIp = trusted
      ? runtime.trust.clientAddress(peer, headers['x-forwarded-for'] as string | undefined)
      : peer;
    const id = requestId(headers, trusted);
    forwardedHeaders(headers, { peer, trusted, clientIp });
    const client = socket as Socket & { destroySoon: () => void };
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    const tried = new Set<Upstream>();
    const { tries } = runtime.config.retries;

    const tryNext = (): void => {
      const upstream =
        runtime.balancer.pick(runtime.pool, clientIp, tried) ?? pickDespiteHealth(runtime.pool, tried);
      const allowed = tried.size === 0 || (runtime.retryOn.error && (tries === 0 || tried.size < tries));
      if (!upstream || !allowed || socket.destroyed) {
        logger.error(
          { requestId: id, url: req.url, code: 'GH_ERR_NO_UPSTREAM', tried: tried.size },
          'Bad Gateway',
        );
        Reflect.deleteProperty(client, 'destroySoon');
        socket.end(rawErrorResponse(502));
        return;
      }
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
      client.destroySoon = () => {};
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
          logger.warn(
            { requestId: id, url: req.url, upstream: upstream.address, reason: err.message },
            'WebSocket upstream failed; trying the next upstream',
          );
          tryNext();
        },
      );
    };
    tryNext();
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
    // The socket is closed after the answer; its close ends the response's books (drain, log).
    res.once('finish', () => socket.end());
    handleHttp(req, res);
  }
}
