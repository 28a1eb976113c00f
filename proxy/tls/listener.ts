import { randomBytes } from 'node:crypto';
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import {
  createServer as createH2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import type { TlsCertificateConfig, TlsConfig } from '../../config/index.js';
import { Linked, LinkedList } from '../../process/linked-list.js';
import { listenOn } from '../../process/listen.js';
import type { Logger } from '../../process/logger.js';
import { CertificateStore } from './certificate-store.js';
import type { LoadedCertificate } from './certificates.js';
import { http1Head } from './h2-request.js';
import { respondDirectly } from './h2-response.js';

export interface TlsListenerOptions {
  tls: TlsConfig;
  logger: Logger;
  /**
   * The HTTP/1.1 server for connections that chose http/1.1 (or sent no ALPN): built like the
   * plain listener's (same request path, upgrades, client errors, timeouts), fed TLS sockets.
   */
  http1: HttpServer;
  /** Where an HTTP/2 request goes once its head reads as HTTP/1.1 (the same request path). */
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  /** Read per request (a reload may change them). */
  limits(): { maxHeaderSize: number; keepalive: number };
  /** Every accepted TLS socket (the status page counts client connections). */
  onSocket?(socket: TLSSocket): void;
  /**
   * The session ticket keys (48 bytes), the same in every process of a cluster so that a client
   * resumes its session whichever process its next connection reaches (nginx's workers share
   * theirs too). Unset: random keys made once by this listener.
   */
  ticketKeys?: Buffer;
}

class SessionEntry extends Linked {
  constructor(readonly session: ServerHttp2Session) {
    super();
  }
}

export interface CertificateStatus {
  cert: string;
  names: readonly string[];
  notAfter: Date;
}

/**
 * HTTPS and HTTP/2 on one port, nginx's `listen 443 ssl http2`: a TLS server that picks the
 * certificate by SNI and hands each connection, by the protocol ALPN chose, to an HTTP/1.1 server
 * or to an HTTP/2 server whose requests (Node's compatibility API) take the same request path.
 * Two servers behind one TLS socket rather than http2's allowHTTP1: the HTTP/1.1 side is then
 * exactly the plain listener's server, with its parser limits, client_header_timeout and
 * WebSocket upgrades, instead of a second set of defaults.
 */
export class TlsListener {
  readonly server: TlsServer;
  readonly store: CertificateStore;
  private readonly h2 = createH2Server();
  /** Open HTTP/2 sessions, linked rather than in a Set (process/linked-list.ts says why). */
  private readonly sessions = new LinkedList<SessionEntry>();
  private bound: AddressInfo | null = null;

  constructor(private readonly options: TlsListenerOptions) {
    const { tls, logger } = options;
    // Kept across certificate swaps: setSecureContext without them makes new random keys, and every
    // session ticket issued before a reload or a renewal would then need a full handshake again.
    const ticketKeys = options.ticketKeys ?? randomBytes(48);
    this.store = new CertificateStore(tls, logger, (table) => {
      // No SNI (or a name no pair has) gets the server's own context: the default pair.
      this.server.setSecureContext({
        ...table.default.pem,
        minVersion: tls.minVersion,
        ticketKeys,
      });
    });
    this.server = createTlsServer({
      minVersion: tls.minVersion,
      ticketKeys,
      ALPNProtocols: tls.http2 ? ['h2', 'http/1.1'] : ['http/1.1'],
      SNICallback: (servername, callback) => {
        const table = this.store.table;
        if (table) callback(null, table.contextFor(servername));
        else callback(new Error('no certificate yet'));
      },
    });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      options.onSocket?.(socket);
      if (socket.alpnProtocol === 'h2') this.h2.emit('connection', socket);
      else options.http1.emit('connection', socket);
    });
    // A failed handshake (a scanner, a client that does not trust us) is the client's problem.
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException) =>
      logger.debug({ code: err.code, reason: err.message }, 'TLS handshake failed'),
    );
    this.h2.on('session', (session: ServerHttp2Session) => {
      const entry = new SessionEntry(session);
      this.sessions.add(entry);
      session.once('close', () => this.sessions.delete(entry));
    });
    this.h2.on('sessionError', (err: Error) => logger.debug({ reason: err.message }, 'HTTP/2 session error'));
    // An idle h2 connection is closed like an idle keep-alive one: GOAWAY, streams in flight finish.
    this.h2.on('timeout', (session: ServerHttp2Session) => session.close());
    this.h2.setTimeout(options.limits().keepalive);
    this.h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => this.onH2Request(req, res));
  }

  get address(): AddressInfo {
    if (!this.bound) throw new Error('not listening');
    return this.bound;
  }

  /** Each certificate in service: what the status page and /metrics show. */
  certificates(): CertificateStatus[] {
    return (this.store.table?.certificates ?? []).map((c: LoadedCertificate) => ({
      cert: c.pair.cert,
      names: c.names,
      notAfter: c.notAfter,
    }));
  }

  /** Reads the certificates (throws when none can be served), watches their files, listens. */
  async listen(): Promise<AddressInfo> {
    const { tls } = this.options;
    if (tls.certificates.length > 0) this.store.reload();
    this.store.watch();
    this.bound = await listenOn(this.server, tls.listen.port, tls.listen.host);
    return this.bound;
  }

  /** SIGHUP, a config reload, or ACME: the pairs read again and swapped in (see CertificateStore). */
  reloadCertificates(pairs?: readonly TlsCertificateConfig[], minVersion?: TlsConfig['minVersion']): void {
    this.store.reload(pairs, minVersion);
  }

  /** ACME's new or renewed pair, swapped in without a restart. */
  putCertificate(pair: TlsCertificateConfig): void {
    this.store.put(pair);
  }

  /** The keep-alive (idle) timeout for h2 connections after a reload. */
  setKeepalive(ms: number): void {
    this.h2.setTimeout(ms);
  }

  /** Stop accepting; h2 connections get GOAWAY (their streams finish), the HTTP/1.1 side drains elsewhere. */
  stopAccepting(): void {
    this.store.unwatch();
    this.server.close();
    for (const { session } of this.sessions) session.close();
  }

  /** Resolves once every h2 connection closed, or at `deadline` (ms since epoch), cutting the rest. */
  async closeSessions(deadline: number): Promise<void> {
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const { session } of this.sessions) session.destroy();
  }

  private onH2Request(req: Http2ServerRequest, res: Http2ServerResponse): void {
    respondDirectly(res);
    const status = http1Head(req, this.options.limits().maxHeaderSize);
    if (status !== 0) {
      this.options.logger.warn({ status, reason: 'request head over client_max_header_size' }, 'bad request');
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('Request Header Fields Too Large\n');
      return;
    }
    // Node's compatibility API gives an h2 stream the request/response surface the request path
    // uses (headers, url, method, pipe, write/drain, setTimeout, destroy): one path for both.
    this.options.onRequest(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  }
}
