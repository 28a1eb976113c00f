import { Pool as ConnectionPool } from 'undici';
import { formatAddress } from '../config/index.js';
import type { Upstream } from './pool/upstream.js';

export interface ConnectionOptions {
  /** An idle upstream connection is closed after this (below the worker's own keep-alive timeout). */
  keepaliveTimeout: number;
  connectTimeout: number;
}

/**
 * The upstream keep-alive connections (nginx `keepalive` + HTTP/1.1): one undici connection pool
 * per upstream address, HTTP/1.1 without pipelining, idle connections reused (undici picks the
 * most recently used) until `keepaliveTimeout`. undici over node:http's Agent because it parses
 * responses with llhttp in WebAssembly and hands us raw header buffers: the benchmarks measured
 * about half the CPU per request (bench/README.md, transport study).
 */
export class UpstreamConnections {
  private readonly byAddress = new Map<string, ConnectionPool>();
  /** Pools taken out of use, finishing their requests before they close. */
  private readonly retiring = new Set<ConnectionPool>();

  constructor(readonly options: ConnectionOptions) {}

  /** The connection pool for an upstream, made on first use. */
  for(upstream: Upstream): ConnectionPool {
    let pool = this.byAddress.get(upstream.address);
    if (pool === undefined) {
      const { keepaliveTimeout, connectTimeout } = this.options;
      pool = new ConnectionPool(`http://${formatAddress(upstream)}`, {
        pipelining: 1,
        keepAliveTimeout: keepaliveTimeout,
        // The worker announces its own (longer) timeout with Keep-Alive; ours stays the upper bound.
        keepAliveMaxTimeout: keepaliveTimeout,
        keepAliveTimeoutThreshold: 1000,
        connect: connectTimeout > 0 ? { timeout: connectTimeout } : {},
        // Timeouts are per request (the config's read timeout, which a reload may change).
        headersTimeout: 0,
        bodyTimeout: 0,
        strictContentLength: true,
      });
      this.byAddress.set(upstream.address, pool);
    }
    return pool;
  }

  /** Closes (after their requests) the pools of upstreams no longer in the pool. */
  retain(addresses: ReadonlySet<string>): void {
    for (const [address, pool] of this.byAddress) {
      if (addresses.has(address)) continue;
      this.byAddress.delete(address);
      this.retire(pool);
    }
  }

  /**
   * The upstream answered `Connection: close` on a connection of `pool`: a worker says that when
   * it drains (pm2 reload, SIGTERM), and then closes its idle keep-alive connections. A request
   * written into one of them as it closes is lost — and a POST cannot be sent again. So no new
   * request goes on any connection opened before this answer: the pool is replaced (the next
   * request opens a new connection, which a drained worker refuses, and a refused connection is
   * retried on another upstream for any method), and the old one closes its idle connections now
   * and the others after their requests. Does nothing if `pool` was replaced already.
   */
  renew(upstream: Upstream, pool: ConnectionPool): void {
    if (this.byAddress.get(upstream.address) !== pool) return;
    this.byAddress.delete(upstream.address);
    this.retire(pool);
  }

  private retire(pool: ConnectionPool): void {
    this.retiring.add(pool);
    void pool
      .close()
      .catch(() => {})
      .finally(() => this.retiring.delete(pool));
  }

  /** Connections carrying a request now, and those idle for reuse. */
  counts(): { active: number; idle: number } {
    let active = 0;
    let idle = 0;
    for (const pool of this.pools()) {
      const { connected, free } = pool.stats;
      active += connected - free;
      idle += free;
    }
    return { active, idle };
  }

  /** Lets every request finish, then closes every connection. */
  async close(): Promise<void> {
    const pools = this.pools();
    this.byAddress.clear();
    await Promise.all(pools.map((pool) => pool.close().catch(() => {})));
  }

  /** Closes every connection now, requests in flight included. */
  async destroy(): Promise<void> {
    const pools = this.pools();
    this.byAddress.clear();
    await Promise.all(pools.map((pool) => pool.destroy().catch(() => {})));
  }

  private pools(): ConnectionPool[] {
    return [...this.byAddress.values(), ...this.retiring];
  }
}
