import type { Socket } from 'node:net';
import { Client, type Dispatcher } from 'undici';
import { formatAddress } from '../config/index.js';
import { connectUpstream } from './connect.js';
import type { Upstream } from './pool/upstream.js';

export interface ConnectionOptions {
  /** Idle connections kept for the whole pool (nginx `keepalive N`); 0 closes each after its response. */
  keepalive: number;
  /** An idle upstream connection is closed after this (below the worker's own keep-alive timeout). */
  keepaliveTimeout: number;
  connectTimeout: number;
}

/**
 * One upstream connection: an undici Client (HTTP/1.1, llhttp in WebAssembly, raw header buffers:
 * about half the CPU per request of node:http's client, bench/README.md) that carries one request
 * at a time over one socket. Made for one connection and dropped with it, never reconnected.
 */
export class UpstreamConnection {
  /** The socket, once connected; undici reconnects a request that found it closed before writing. */
  socket: Socket | null = null;
  idle = false;
  /** No new request goes on it: closed once its request is done. */
  retired = false;
  closed = false;

  constructor(
    readonly address: string,
    readonly client: Client,
  ) {}
}

/**
 * What undici is told when the pool closes a connection that carries no request. One shared error:
 * without one, undici makes a ClientDestroyedError (a captured stack) for each destroy(), and under
 * HTTP/2 load (more streams than `keepalive`) connections open and close every few requests, as
 * nginx's do. The callback form of destroy() saves a Promise too.
 */
const CLOSED_BY_POOL = new Error('upstream connection closed by the keep-alive pool');
const ignore = () => {};

/**
 * The upstream keep-alive connections (nginx `keepalive` + HTTP/1.1) of one proxy process. As nginx
 * keeps them: one cache of idle connections for the whole pool (nginx's is per upstream block and
 * worker process, whichever server each one goes to), capped at `keepalive`, the least recently
 * used closed beyond it; the most recently used idle connection of a server is the one reused, so
 * the others age out after `keepaliveTimeout`. A request that finds none idle opens a new one: like
 * nginx, no limit on connections in use.
 */
export class UpstreamConnections {
  /** Idle connections per server address, most recently used last. */
  private readonly idleByAddress = new Map<string, UpstreamConnection[]>();
  /** Every idle connection, least recently used first (a Set keeps insertion order). */
  private readonly idle = new Set<UpstreamConnection>();
  /** Every connection not closed yet, idle or carrying a request. */
  private readonly open = new Set<UpstreamConnection>();
  private whenAllClosed: (() => void) | null = null;
  /** close() or destroy() was called: a connection opened since (a late retry) carries one request. */
  private closing = false;

  constructor(readonly options: ConnectionOptions) {}

  /** A connection to `upstream` for one request: its most recently used idle one, else a new one. */
  take(upstream: Upstream): UpstreamConnection {
    const connection = this.idleByAddress.get(upstream.address)?.pop();
    if (connection) {
      this.idle.delete(connection);
      connection.idle = false;
      return connection;
    }
    return this.openTo(upstream);
  }

  /**
   * The upstream answered `Connection: close` on `connection`: a worker says that when it drains
   * (pm2 reload, SIGTERM), and then closes its idle keep-alive connections. A request written into
   * one of them as it closes is lost — and a POST cannot be sent again. So no new request goes on
   * any connection to that server opened before this answer: idle ones close now, busy ones after
   * their request (the next request opens a new connection, which a drained worker refuses, and a
   * refused connection is retried on another upstream for any method). Does nothing when a later
   * connection to it exists already (a renewal happened since).
   */
  renew(connection: UpstreamConnection): void {
    if (connection.retired) return;
    for (const other of this.open) if (other.address === connection.address) this.retire(other);
  }

  /**
   * Sends one request on `connection` (from take()). Errors reach the handler's onError, even when
   * undici refuses the request outright; then no 'drain' follows, so the connection is released here.
   */
  dispatch(
    connection: UpstreamConnection,
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): void {
    connection.client.dispatch(options, handler);
    if (connection.client.stats.size === 0) this.release(connection);
  }

  /** Closes the connections of servers no longer in the pool (busy ones after their request). */
  retain(addresses: ReadonlySet<string>): void {
    for (const connection of this.open) if (!addresses.has(connection.address)) this.retire(connection);
    for (const address of this.idleByAddress.keys())
      if (!addresses.has(address)) this.idleByAddress.delete(address);
  }

  /** Connections carrying a request now, and those idle for reuse. */
  counts(): { active: number; idle: number } {
    let active = 0;
    for (const connection of this.open) if (!connection.idle && connection.socket) active++;
    return { active, idle: this.idle.size };
  }

  /** Lets every request finish, then closes every connection. */
  close(): Promise<void> {
    this.closing = true;
    for (const connection of this.open) this.retire(connection);
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.whenAllClosed = resolve;
    });
  }

  /** Closes every connection now, requests in flight included. */
  async destroy(): Promise<void> {
    this.closing = true;
    const clients = [...this.open].map((connection) => connection.client);
    for (const connection of this.open) this.discard(connection);
    await Promise.all(clients.map((client) => client.destroy().catch(() => {})));
  }

  private openTo(upstream: Upstream): UpstreamConnection {
    const { keepaliveTimeout, connectTimeout } = this.options;
    const connection: UpstreamConnection = new UpstreamConnection(
      upstream.address,
      new Client(`http://${formatAddress(upstream)}`, {
        pipelining: 1,
        keepAliveTimeout: keepaliveTimeout,
        // The worker announces its own (longer) timeout with Keep-Alive; ours stays the upper bound.
        keepAliveMaxTimeout: keepaliveTimeout,
        keepAliveTimeoutThreshold: 1000,
        // Our connector: undici's runs its connect timeout on a timer that ticks every 500 ms.
        connect: (target, callback) =>
          connectUpstream(target, connectTimeout, (...result) => {
            if (result[1]) connection.socket = result[1];
            callback(...result);
          }),
        // Read and send timeouts are the request path's, per request (a reload may change them).
        headersTimeout: 0,
        bodyTimeout: 0,
        strictContentLength: true,
      }),
    );
    // undici says 'drain' when the connection can take a request again (its response is complete),
    // 'disconnect' when the socket closed, 'connectionError' when it never connected.
    connection.client.on('drain', () => this.release(connection));
    connection.client.on('disconnect', () => this.lost(connection));
    connection.client.on('connectionError', () => this.lost(connection));
    connection.retired = this.closing;
    this.open.add(connection);
    return connection;
  }

  /** The connection's request is done: kept idle if it can carry another one and the cache has room. */
  release(connection: UpstreamConnection): void {
    if (connection.closed || connection.idle) return;
    const socket = connection.socket;
    if (connection.retired || !socket || socket.destroyed) return this.discard(connection);
    connection.idle = true;
    this.idle.add(connection);
    const stack = this.idleByAddress.get(connection.address);
    if (stack) stack.push(connection);
    else this.idleByAddress.set(connection.address, [connection]);
    if (this.idle.size > this.options.keepalive) {
      const leastRecent = this.idle.values().next().value;
      if (leastRecent) this.discard(leastRecent);
    }
  }

  /**
   * The socket closed (keep-alive timeout, the worker closed it, an error). An idle connection is
   * dropped; a busy one is left to undici, which fails its request or, if the request was not
   * written yet, connects again for it.
   */
  private lost(connection: UpstreamConnection): void {
    connection.socket = null;
    if (connection.idle) this.discard(connection);
  }

  /** No new request goes on it; closed now if idle, else once its request is done. */
  private retire(connection: UpstreamConnection): void {
    connection.retired = true;
    if (connection.idle) this.discard(connection);
  }

  private discard(connection: UpstreamConnection): void {
    if (connection.closed) return;
    connection.closed = true;
    if (connection.idle) {
      connection.idle = false;
      this.idle.delete(connection);
      const stack = this.idleByAddress.get(connection.address);
      const at = stack?.indexOf(connection) ?? -1;
      if (at >= 0) stack!.splice(at, 1);
    }
    this.open.delete(connection);
    connection.client.destroy(CLOSED_BY_POOL, ignore);
    if (this.open.size === 0 && this.whenAllClosed) {
      this.whenAllClosed();
      this.whenAllClosed = null;
    }
  }
}
