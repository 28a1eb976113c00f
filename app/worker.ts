import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname as osHostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { answerClientErrors } from '../process/client-error.js';
import { createDrainer } from '../process/drain.js';
import { listenOn } from '../process/listen.js';
import type { Logger } from '../process/logger.js';
import { acceptRequestId } from '../process/request-id.js';
import { formatWorkerHeader, WORKER_HEADER } from '../stack/worker-identity.js';
import { createRequestGate } from './concurrency.js';
import { serveFetch } from './fetch-adapter.js';
import type { GatewayApp, RequestContext, WorkerInfo } from './gateway.js';

export interface WorkerOptions {
  app: GatewayApp;
  logger: Logger;
  host?: string;
  port?: number;
  instance?: number;
  /** How long in-flight requests may run on after SIGTERM before connections are cut. */
  gracePeriod?: number;
  /**
   * Idle keep-alive timeout. It must outlast the proxy's upstream idle timeout (60 s by default,
   * worker 65 s): then the proxy always closes an idle connection first, and never writes a
   * request onto a socket the worker is closing at that moment (the reset race of pooled sockets).
   */
  keepaliveTimeout?: number;
  /**
   * The health path (upstream.health.path): probes of it (the proxy's active health check every
   * couple of seconds, Docker's HEALTHCHECK) are counted and logged at debug only, so they do not
   * bury the request log, and answered with the worker's identity (stack/worker-identity.ts).
   * null: no path is treated as a probe.
   */
  healthPath?: string | null;
  /** The host name the worker reports; os.hostname() (in Docker, the container id) by default. */
  hostname?: string;
  /**
   * workers.concurrency: requests served at once; more wait in line, never refused. null: no
   * limit. Health probes and WebSocket upgrades are not counted (see createWorker).
   */
  concurrency?: number | null;
}

export interface Worker {
  readonly server: Server;
  readonly info: WorkerInfo;
  /** Health probes answered since the worker started. */
  readonly healthProbes: number;
  listen(): Promise<AddressInfo>;
  /** Stop accepting, finish in-flight requests (up to the grace period), close idle sockets. */
  shutdown(): Promise<void>;
}

export function createWorker(options: WorkerOptions): Worker {
  const {
    app,
    logger,
    host = '127.0.0.1',
    port = 0,
    instance = 0,
    gracePeriod = 10_000,
    keepaliveTimeout = 65_000,
    healthPath = null,
    hostname = osHostname(),
    concurrency = null,
  } = options;
  const info: WorkerInfo = { hostname, pid: process.pid, instance, port };
  let healthProbes = 0;
  // Upgraded (WebSocket) sockets leave the HTTP server's books: server.close() would wait on them forever.
  const upgraded = new Set<Duplex>();

  const server = createServer(
    { keepAliveTimeout: keepaliveTimeout, headersTimeout: keepaliveTimeout + 1000 },
    handle,
  );
  server.keepAliveTimeout = keepaliveTimeout;
  const drainer = createDrainer(server);
  const gate = createRequestGate(concurrency);
  server.headersTimeout = keepaliveTimeout + 1000;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const requestId = acceptRequestId(req.headers['x-request-id']);
    req.headers['x-request-id'] = requestId;
    res.setHeader('x-request-id', requestId);
    const probe = isHealthProbe(req, healthPath);
    if (probe) {
      healthProbes++;
      res.setHeader(WORKER_HEADER, formatWorkerHeader({ ...info, healthProbes }));
    }
    drainer.track(res);
    let finished = false;
    // When the app got the request; null while it waits for a slot (workers.concurrency).
    let startedAt: number | null = null;
    let queued = false;
    const done = () => {
      if (finished) return;
      finished = true;
      logger[probe ? 'debug' : 'info'](
        {
          requestId,
          method: req.method,
          path: req.url,
          status: res.statusCode,
          duration: Math.round((performance.now() - started) * 1000) / 1000,
          aborted: !res.writableFinished,
          // Time spent waiting for a slot (workers.concurrency), included in duration.
          ...(queued
            ? { queued: Math.round(((startedAt ?? performance.now()) - started) * 1000) / 1000 }
            : {}),
        },
        'request',
      );
    };
    res.once('finish', done);
    res.once('close', done);
    const context: RequestContext = {
      requestId,
      remoteAddress: req.socket.remoteAddress ?? '',
      worker: info,
    };
    const serve = () => {
      startedAt = performance.now();
      runApp(req, res, context, requestId);
    };
    // A probe asks whether the process lives, and must not wait behind a slow request: the proxy's
    // active check (or Docker's) would time out and take a merely busy worker out of the pool.
    if (probe) serve();
    else gate.admit(res, serve);
    queued = startedAt === null;
  }

  function runApp(
    req: IncomingMessage,
    res: ServerResponse,
    context: RequestContext,
    requestId: string,
  ): void {
    try {
      if (app.fetch) {
        serveFetch(app.fetch, req, res, context, `${host}:${info.port}`).catch((err: unknown) =>
          fail(err, req, res, requestId),
        );
      } else {
        app.listener!(req, res);
      }
    } catch (err) {
      fail(err, req, res, requestId);
    }
  }

  function fail(err: unknown, req: IncomingMessage, res: ServerResponse, requestId: string): void {
    logger.error({ requestId, method: req.method, path: req.url, err }, 'app error');
    if (res.headersSent) {
      // Part of the response is out: the only honest signal left is an incomplete message.
      res.destroy();
      return;
    }
    const body = `<!doctype html>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n<p>Request id: ${requestId}</p>\n`;
    res.writeHead(500, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  if (app.upgrade) {
    const upgrade = app.upgrade;
    server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      upgraded.add(socket);
      drainer.release(socket);
      socket.once('close', () => upgraded.delete(socket));
      if (drainer.closing) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      try {
        upgrade(req, socket, head);
      } catch (err) {
        logger.error({ err, path: req.url }, 'upgrade error');
        socket.destroy();
      }
    });
  }

  // No page for a worker's bad-request answers: only the proxy (or a developer) talks to it.
  answerClientErrors(server, {
    response: (status) =>
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
  });

  return {
    server,
    info,
    get healthProbes() {
      return healthProbes;
    },
    async listen() {
      const address = await listenOn(server, port, host);
      info.port = address.port;
      return address;
    },
    async shutdown() {
      if (drainer.closing) return;
      const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
      const left = await drainer.drain(gracePeriod);
      if (left > 0) logger.warn({ inFlight: left }, 'grace period over; closed open connections');
      // The app says goodbye on its long-lived sockets (WebSocket close 1001), then they are cut.
      await app.close?.();
      for (const socket of upgraded) socket.destroy();
      await closed;
    },
  };
}

function isHealthProbe(req: IncomingMessage, healthPath: string | null): boolean {
  if (healthPath === null || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  const url = req.url ?? '';
  const query = url.indexOf('?');
  return (query === -1 ? url : url.slice(0, query)) === healthPath;
}
