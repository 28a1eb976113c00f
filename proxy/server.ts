import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createProxyServer as createHttpProxy } from 'http-proxy-3';
import type { Config } from '../config/index.js';
import { answerClientErrors } from '../process/client-error.js';
import { createDrainer, type Drainer } from '../process/drain.js';
import { listenOn } from '../process/listen.js';
import type { Logger } from '../process/logger.js';
import { type AccessLog, createAccessLog } from './access-log.js';
import { TempSpace } from './buffering/temp-space.js';
import { createDevReload } from './dev-reload/index.js';
import { rawErrorResponse } from './errors.js';
import { createForwarder } from './forward.js';
import { createRequestLimiter, type RequestLimiter } from './limits/apply.js';
import { Pool } from './pool/pool.js';
import { createPoolKeepers } from './routes/keepers.js';
import { createRuntime, type Runtime } from './runtime.js';
import { createPoolSource, type PoolSourceFactory, poolEnv, poolSourceKind } from './sources/index.js';
import { createStatusListener, noUpstream, type StatusListener } from './status/index.js';
import { TlsListener } from './tls/listener.js';
import { answerOnPlain, type ChallengeResponder } from './tls/plain-answers.js';
import { restartWarning, tlsChangesNeedingRestart } from './tls/restart-only.js';
import { createUpgradeHandler } from './websocket.js';

/** Error codes of a write to, or read from, a client socket the client already closed. */
const CLIENT_GONE = new Set([
  'EPIPE',
  'ECONNRESET',
  'ECONNABORTED',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
]);

export interface ProxyServerOptions {
  logger: Logger;
  /** Overrides how the pool source is made (tests, the Docker discovery). */
  createSource?: PoolSourceFactory;
  /** Told the size of every body chunk streamed either way (the process's BodyMemory). */
  onBodyBytes?: (bytes: number) => void;
  /**
   * Development (NODE_ENV=development): HTML pages get a script that reloads them once every
   * worker was replaced (dev-reload/). Off in production, where it costs one null check a request.
   */
  devReload?: boolean;
  /** TLS session ticket keys shared by the processes of a cluster (TlsListenerOptions.ticketKeys). */
  ticketKeys?: Buffer;
}

export interface ProxyServer {
  /** Where clients connect; valid after listen(). */
  readonly address: AddressInfo;
  /** Where HTTPS and HTTP/2 clients connect (tls.listen); null without tls. Valid after listen(). */
  readonly tlsAddress: AddressInfo | null;
  /** The TLS listener (certificates in service, swaps); null without tls. */
  readonly tls: TlsListener | null;
  /** The ACME module's HTTP-01 answers on the plain listener (null: challenges go to the workers). */
  setChallengeResponder(responder: ChallengeResponder | null): void;
  /** The status listener (/status, /metrics); valid after listen(). */
  readonly statusAddress: AddressInfo;
  readonly runtime: Runtime;
  readonly status: StatusListener;
  /** Temp files of buffered bodies now (bytes, files): what buffering.max_disk bounds. */
  readonly tempSpace: TempSpace;
  /** Rate limits (limits.requests) of this process: its buckets and the requests waiting out a delay. */
  readonly limiter: RequestLimiter;
  listen(): Promise<void>;
  /** nginx -s reload: new settings and pool for new requests; nothing in flight is dropped. */
  reload(config: Config): void;
  /** The certificate files read again and swapped in (SIGHUP does it with the config's reload). */
  reloadCertificates(): void;
  /** nginx -s reopen: the access log file closed and opened again at its path (after logrotate). */
  reopenLogs(): void;
  /** Stop accepting, finish in-flight requests up to timeouts.shutdown, then close everything. */
  shutdown(): Promise<void>;
}

/** The reverse proxy of one process: client listener, status listener, pool, health, logs. */
export function createProxyServer(initial: Config, options: ProxyServerOptions): ProxyServer {
  const { logger } = options;
  const makeSource: PoolSourceFactory =
    options.createSource ?? ((pool, env) => createPoolSource(pool, logger, env));
  let runtime = createRuntime(initial);
  let accessLog: AccessLog | null = createAccessLog(initial.accessLog);
  // Client connections are counted, not kept in a Set (process/linked-list.ts says why); a TLS
  // socket reaches countConnection twice, from the TLS listener and from its HTTP/1.1 front.
  let clientConnections = 0;
  const counted = Symbol('counted connection');
  function countConnection(socket: Socket & { [counted]?: true }): void {
    if (socket[counted]) return;
    socket[counted] = true;
    clientConnections++;
    socket.once('close', () => clientConnections--);
  }
  const tunnels = new Set<Duplex>();
  const tempSpace = new TempSpace();

  // WebSocket tunnels only (websocket.ts); HTTP requests go through forward.ts and undici.
  const httpProxy = createHttpProxy({ xfwd: false, ws: true });
  // Upstream errors reach the per-call callbacks. What still arrives here are errors of the client's
  // socket, which http-proxy-3 forwards as its own: a client that vanished mid-handshake or
  // mid-tunnel (EPIPE, ECONNRESET) is ordinary traffic, not a proxy error. The listener also keeps
  // an unexpected error from crashing the process.
  httpProxy.on('error', (err: NodeJS.ErrnoException) => {
    if (CLIENT_GONE.has(err.code ?? '')) logger.debug({ code: err.code }, 'WebSocket client went away');
    else logger.error({ err }, 'proxy error');
  });

  const devReload = options.devReload
    ? createDevReload({ logger, getPool: () => defaultPool(runtime), getConfig: () => runtime.config })
    : null;

  const status = createStatusListener({
    getPools: () => runtime.backends.map((b) => ({ route: b.name, upstreams: b.pool.upstreams })),
    getClientConnections: () => clientConnections,
    getUpstreamConnections: () => connectionCounts(runtime),
    getTempBytes: () => tempSpace.bytes,
    logger,
    refreshSeconds: 2,
    getToken: () => runtime.config.status.token,
    ...(initial.tls ? { getCertificates: () => tlsListener?.certificates() ?? [] } : {}),
    ...(devReload ? { extraRoutes: devReload.serve } : {}),
  });

  const limiter = createRequestLimiter();
  const forwarder = createForwarder({
    getRuntime: () => runtime,
    logger,
    get accessLog() {
      return accessLog;
    },
    observer: {
      onResponse(route, upstream, code, seconds) {
        status.observe(route, upstream?.address ?? noUpstream, code, seconds);
      },
    },
    isClosing: () => closing,
    onBodyBytes: options.onBodyBytes,
    tempSpace,
    limiter,
  });

  let closing = false;
  let challenge: ChallengeResponder | null = null;

  /**
   * One HTTP/1.1 server with the whole client side: parser limits, timeouts, Expect, upgrades,
   * client errors, the drain. The plain listener is one; the TLS listener feeds another its
   * http/1.1 connections. `answer` is what that listener does before the request path.
   */
  function createFront(answer: (req: IncomingMessage, res: ServerResponse) => boolean) {
    const front: Server = createServer(
      {
        maxHeaderSize: initial.clientMaxHeaderSize,
        keepAliveTimeout: initial.timeouts.clientKeepalive,
        headersTimeout: initial.timeouts.clientHeader,
        requestTimeout: 0,
        // How often Node checks client_header_timeout (its default, 30 s, would make it that coarse).
        connectionsCheckingInterval: Math.max(
          100,
          Math.min(1000, Math.floor(initial.timeouts.clientHeader / 3)),
        ),
      },
      onRequest,
    );
    const drainer = createDrainer(front);

    function onRequest(req: IncomingMessage, res: ServerResponse): void {
      drainer.track(res);
      if (answer(req, res)) return;
      if (devReload) devReload.prepare(req, res);
      forwarder.handle(req, res);
    }

    // Expect: 100-continue — refuse a body over the limit before the client sends it.
    front.on('checkContinue', (req, res) => {
      const length = Number(req.headers['content-length'] ?? 0);
      if (length <= runtime.config.clientMaxBodySize) res.writeContinue();
      onRequest(req, res);
    });

    const onUpgrade = createUpgradeHandler({
      proxy: httpProxy,
      getRuntime: () => runtime,
      logger,
      isClosing: () => closing,
      handleHttp: onRequest,
      tunnels,
      limiter,
    });
    front.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // A tunnel is closed by its own path (shutdown ends it), not by the drain's idle sweep.
      drainer.release(socket);
      onUpgrade(req, socket, head);
    });

    front.on('connection', countConnection);

    answerClientErrors(front, {
      response: rawErrorResponse,
      onRejected: ({ code, status, reason }) => logger.warn({ code, status, reason }, 'bad request'),
    });
    return { server: front, drainer, onRequest };
  }

  const plain = createFront((req, res) => {
    const tls = runtime.config.tls;
    if (!tls || !tlsListener) return false;
    return answerOnPlain(req, res, {
      redirect: tls.redirectHttp,
      httpsPort: tlsListener.address.port,
      challenge,
    });
  });
  const server = plain.server;
  const drainer: Drainer = plain.drainer;

  let tlsListener: TlsListener | null = null;
  let tlsFront: ReturnType<typeof createFront> | null = null;
  if (initial.tls) {
    const secureFront = createFront((_req, res) => {
      const { hsts } = runtime.config.tls ?? { hsts: 0 };
      if (hsts > 0) res.setHeader('Strict-Transport-Security', `max-age=${hsts}`);
      return false;
    });
    tlsFront = secureFront;
    tlsListener = new TlsListener({
      tls: initial.tls,
      logger,
      ...(options.ticketKeys ? { ticketKeys: options.ticketKeys } : {}),
      http1: secureFront.server,
      onRequest: secureFront.onRequest,
      limits: () => ({
        maxHeaderSize: runtime.config.clientMaxHeaderSize,
        keepalive: runtime.config.timeouts.clientKeepalive,
      }),
      onSocket: countConnection,
    });
  }
  applyClientTimeouts(initial);

  function applyClientTimeouts(config: Config): void {
    for (const front of [server, tlsFront?.server]) {
      if (!front) continue;
      front.keepAliveTimeout = config.timeouts.clientKeepalive;
      front.headersTimeout = config.timeouts.clientHeader;
      front.requestTimeout = 0;
    }
    tlsListener?.setKeepalive(config.timeouts.clientKeepalive);
  }

  /**
   * A reload (SIGHUP) reads every certificate again: renewed files go into service now. What only a
   * restart can change is named in a warning and left as it runs.
   */
  function reloadTls(next: Config): void {
    // Against the config the proxy started with: a change not yet applied is named at every reload.
    for (const key of tlsChangesNeedingRestart(initial.tls, next.tls))
      logger.warn({ key }, restartWarning(key));
    if (tlsListener && next.tls) reloadCertificates(next.tls.certificates, next.tls.minVersion);
  }

  function reloadCertificates(...args: Parameters<TlsListener['reloadCertificates']>): void {
    try {
      tlsListener?.reloadCertificates(...args);
    } catch (err) {
      // Only when no pair at all could be read and none was in service: logged by the store.
      logger.error({ reason: (err as Error).message }, 'no certificate could be loaded');
    }
  }

  let keepers = createPoolKeepers(() => runtime, makeSource, logger);
  const upstreamAddresses = () => runtime.backends.flatMap((b) => b.pool.upstreams.map((u) => u.address));

  let address: AddressInfo | null = null;
  let tlsAddress: AddressInfo | null = null;
  let statusAddress: AddressInfo | null = null;

  return {
    get address() {
      if (!address) throw new Error('not listening');
      return address;
    },
    get statusAddress() {
      if (!statusAddress) throw new Error('not listening');
      return statusAddress;
    },
    get tlsAddress() {
      return tlsAddress;
    },
    get tls() {
      return tlsListener;
    },
    setChallengeResponder(responder) {
      challenge = responder;
    },
    get runtime() {
      return runtime;
    },
    status,
    tempSpace,
    limiter,
    async listen() {
      const delivered = keepers.start();
      // Under pm2 the workers may not be where workers.count says (after pm2 scale): a proxy that
      // starts (restart, resurrect, reload) takes connections only once pm2 said which run.
      if (runtime.backends.some((b) => poolSourceKind(b, poolEnv(b.isDefault)) === 'pm2'))
        await firstPool(delivered, logger);
      const { listen, status: statusConfig } = runtime.config;
      // TLS first: a certificate that cannot be read stops the start before anything listens.
      if (tlsListener) tlsAddress = await tlsListener.listen();
      address = await listenOn(server, listen.port, listen.host);
      statusAddress = await listenOn(status.server, statusConfig.listen.port, statusConfig.listen.host);
      devReload?.start(statusAddress);
      logger.info(
        {
          host: address.address,
          port: address.port,
          statusPort: statusAddress.port,
          ...(tlsAddress ? { tlsPort: tlsAddress.port } : {}),
          upstreams: upstreamAddresses(),
        },
        'listening',
      );
    },
    reload(config) {
      const previous = runtime;
      if (config.listen.port !== initial.listen.port || config.listen.host !== initial.listen.host) {
        logger.warn({ key: 'listen' }, restartWarning('listen'));
      }
      runtime = createRuntime(config, previous);
      applyClientTimeouts(config);
      reloadTls(config);
      if (
        previous.config.accessLog.path !== config.accessLog.path ||
        previous.config.accessLog.format !== config.accessLog.format
      ) {
        const old = accessLog;
        accessLog = createAccessLog(config.accessLog);
        old?.close();
      }
      // Every pool's source and health check starts again from the new settings; the pools keep
      // their upstreams' live state (Pool.fromServers takes them over).
      keepers.stop();
      keepers = createPoolKeepers(() => runtime, makeSource, logger);
      void keepers.start();
      // New connection settings, or a pool gone: the old connections finish their requests, then close.
      const kept = new Set(runtime.backends.map((b) => b.connections));
      for (const backend of previous.backends)
        if (!kept.has(backend.connections)) void backend.connections.close();
      logger.info({ upstreams: upstreamAddresses() }, 'configuration reloaded');
    },
    reloadCertificates() {
      reloadCertificates();
    },
    reopenLogs() {
      const { path } = runtime.config.accessLog;
      try {
        accessLog?.reopen();
        if (accessLog && path !== 'stdout') logger.info({ path }, 'access log reopened');
      } catch (err) {
        logger.error({ err, path }, 'access log not reopened; still writing to the file it had open');
      }
    },
    async shutdown() {
      if (closing) return;
      closing = true;
      // Requests waiting out a rate-limit delay go now: the drain would otherwise wait for them or cut them.
      limiter.releaseDelayed();
      const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
      for (const tunnel of tunnels) tunnel.end();
      const grace = runtime.config.timeouts.shutdown;
      tlsListener?.stopAccepting();
      const [plainLeft, tlsLeft] = await Promise.all([
        drainer.drain(grace),
        tlsFront ? tlsFront.drainer.drain(grace) : 0,
        tlsListener?.closeSessions(Date.now() + grace),
      ]);
      const left = plainLeft + tlsLeft;
      if (left > 0) logger.warn({ inFlight: left }, 'shutdown timeout; cut open requests');
      for (const tunnel of tunnels) tunnel.destroy();
      keepers.stop();
      devReload?.stop();
      await closed;
      const statusClosed = new Promise<void>((resolve) => status.server.close(() => resolve()));
      status.server.closeAllConnections();
      await statusClosed;
      await Promise.all(runtime.backends.map((b) => b.connections.destroy()));
      httpProxy.close();
      accessLog?.close();
      // Requests cut by the shutdown timeout may not have removed theirs yet.
      tempSpace.removeAll();
    },
  };
}

/** How long a starting proxy waits for pm2's worker list before it listens with the configured pool. */
const FIRST_POOL_WAIT = 5000;

async function firstPool(delivered: Promise<void>, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, FIRST_POOL_WAIT, true);
  });
  const late = await Promise.race([delivered.then(() => false), timedOut]);
  clearTimeout(timer);
  if (late)
    logger.warn(
      { waited: FIRST_POOL_WAIT },
      'no worker list from pm2 yet; listening with the configured pool',
    );
}

/** The top-level pool (dev reload watches its workers), or none when every route has its own. */
function defaultPool(runtime: Runtime): Pool {
  return runtime.backends.find((b) => b.isDefault)?.pool ?? Pool.empty;
}

/** Upstream connections of every pool together. */
function connectionCounts(runtime: Runtime): { active: number; idle: number } {
  let active = 0;
  let idle = 0;
  for (const backend of runtime.backends) {
    const counts = backend.connections.counts();
    active += counts.active;
    idle += counts.idle;
  }
  return { active, idle };
}
