import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ServerConfig } from '../../config/index.js';
import type { Balancer } from '../../proxy/pool/balancer.js';
import { Pool } from '../../proxy/pool/pool.js';
import type { Upstream } from '../../proxy/pool/upstream.js';

export type ServerSpec =
  | string
  | ({ address: string } & Partial<Omit<ServerConfig, 'address' | 'host' | 'port'>>);

/** A ServerConfig from "host:port" (or "[v6]:port") plus overrides, with the config's defaults. */
export function serverConfig(spec: ServerSpec): ServerConfig {
  const { address, ...rest } = typeof spec === 'string' ? { address: spec } : spec;
  const match = /^\[?(.+?)\]?:(\d+)$/.exec(address);
  if (!match) throw new Error(`bad test address ${address}`);
  return {
    address,
    host: match[1]!,
    port: Number(match[2]),
    weight: 1,
    maxFails: 1,
    failTimeout: 10_000,
    backup: false,
    ...rest,
  };
}

/** An in-memory pool; nothing listens on these addresses. */
export function makePool(specs: readonly ServerSpec[]): Pool {
  return Pool.fromServers(specs.map(serverConfig));
}

/** The upstream at `address`, failing the test if the pool has none. */
export function upstreamAt(pool: Pool, address: string): Upstream {
  const upstream = pool.find(address);
  if (!upstream) throw new Error(`no upstream ${address} in pool`);
  return upstream;
}

export interface PickOptions {
  clientIp?: (i: number) => string;
  exclude?: ReadonlySet<Upstream>;
}

/** How often each address (or 'none') was picked over `count` picks. */
export function countPicks(
  balancer: Balancer,
  pool: Pool,
  count: number,
  options: PickOptions = {},
): Map<string, number> {
  const { clientIp = () => '127.0.0.1', exclude = new Set<Upstream>() } = options;
  const counts = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const key = balancer.pick(pool, clientIp(i), exclude)?.address ?? 'none';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** A client address in a different /24 for every i (ip_hash spreads by /24). */
export function spreadClientIp(i: number): string {
  return `10.${(i >> 8) & 255}.${i & 255}.7`;
}

/** Deterministic uniform [0, 1) numbers (mulberry32), so random-policy tests are repeatable. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return function next() {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TestHttpServer {
  port: number;
  address: string;
  /** Requests it received. */
  hits: () => number;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1, port 0; close() also cuts open connections. */
export async function startHttpServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TestHttpServer> {
  let hits = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    address: `127.0.0.1:${port}`,
    hits: () => hits,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export { closedPort } from './net.js';
