import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerSummary } from '../../proxy/sources/docker/client.js';
import type { UpstreamStatus } from '../../stack/status.js';
import { childEnv, forkGatehouse, type GatehouseChild } from '../helpers/child.js';
import { fetchStatus } from '../helpers/pm2.js';
import { type Cleanup, type ConfigDoc, testDoc } from '../helpers/proxy.js';

/**
 * Helpers of the config-key walk (test/config/keys-*.test.ts): processes started from a config
 * that logs nothing at info level, backends that record what the proxy does to their connections,
 * and a Docker Engine API stand-in on a unix socket.
 */

/** A GET on a fresh connection to any loopback host (the shared `request` helper knows 127.0.0.1 only). */
export function getAt(host: string, port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer from ${host}:${port} within 15 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Whether a TCP connection to host:port is refused (nothing listens there). */
export function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/**
 * `gatehouse proxy|worker --config FILE` (the document over the test base and the default), ready
 * once it sent 'ready' over IPC. Unlike the shared helpers it does not wait for a "listening" log
 * line, so it starts with `log_level: warn` too; the addresses must be fixed in the document (or,
 * for a worker, in PORT). Stopped by the cleanup's `after`.
 */
export function startFromConfig(
  cleanup: Cleanup,
  role: 'proxy' | 'worker',
  overrides: ConfigDoc,
  env: Record<string, string> = {},
): Promise<GatehouseChild> {
  const dir = mkdtempSync(join(tmpdir(), `gatehouse-walk-${role}-`));
  const file = join(dir, 'config.yaml');
  // JSON is YAML: the document needs no serializer of its own.
  writeFileSync(file, JSON.stringify(testDoc(overrides)));
  const started = forkGatehouse([role, '--config', file], childEnv(env), dir);
  cleanup.after(() => started.stop());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void started.stop({ signal: 'SIGKILL' });
      reject(new Error(`${role} sent no 'ready' within 15 s\n${started.describe()}`));
    }, 15_000);
    started.child.on('message', (message) => {
      if (message !== 'ready') return;
      clearTimeout(timer);
      resolve(started);
    });
    void started.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${role} exited (code ${code}, signal ${signal}) before it was ready\n${started.describe()}`,
        ),
      );
    });
  });
}

/** One upstream as the proxy's /status JSON shows it. */
export async function upstreamStatus(statusPort: number, address: string): Promise<UpstreamStatus> {
  const snapshot = await fetchStatus(`http://127.0.0.1:${statusPort}/status`);
  const found = snapshot?.upstreams.find((u) => u.address === address);
  if (!found) throw new Error(`no upstream ${address} on the status page: ${JSON.stringify(snapshot)}`);
  return found;
}

export interface WatchedBackend {
  port: number;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Requests answered so far, in order: the connection (1-based) each came on and when it was answered. */
  readonly answered: ReadonlyArray<{ connection: number; at: number }>;
  /** Resolves with the time the peer closed connection `n` (1-based); this backend never closes one. */
  peerClosed(n: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * An HTTP backend on 127.0.0.1 that keeps every connection open as long as the peer wants (no
 * keep-alive timeout, no Keep-Alive hint) and notes when the peer closes each one: what the
 * proxy's upstream pool does with an idle connection, seen from the worker's side.
 */
export async function createWatchedBackend(): Promise<WatchedBackend> {
  const answered: Array<{ connection: number; at: number }> = [];
  const closedAt: Array<Promise<number>> = [];
  const ids = new Map<Socket, number>();
  const server = createHttpServer({ keepAliveTimeout: 0 }, (req, res) => {
    const connection = ids.get(req.socket as Socket) ?? 0;
    req.resume();
    req.on('end', () => {
      res.end('ok\n', () => answered.push({ connection, at: Date.now() }));
    });
  });
  server.keepAliveTimeout = 0;
  server.on('connection', (socket: Socket) => {
    ids.set(socket, closedAt.length + 1);
    closedAt.push(new Promise((resolve) => socket.once('close', () => resolve(Date.now()))));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    get connections() {
      return closedAt.length;
    },
    answered,
    peerClosed(n) {
      const closed = closedAt[n - 1];
      if (!closed) throw new Error(`no connection ${n} (${closedAt.length} so far)`);
      return closed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface SilentBackend {
  port: number;
  address: string;
  /** Resolves once the first request bytes have arrived. */
  readonly received: Promise<void>;
  close(): Promise<void>;
}

/** A backend that accepts requests and never answers (an app stuck inside a request). */
export async function createSilentBackend(): Promise<SilentBackend> {
  const sockets = new Set<Socket>();
  let arrived: () => void = () => {};
  const received = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', () => arrived());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** HTTP servers on host:port for each port, each answering its own port number (a worker pool at fixed ports). */
export async function startPortServers(
  cleanup: Cleanup,
  host: string,
  ports: readonly number[],
): Promise<void> {
  for (const port of ports) {
    const server = createHttpServer((_req, res) => res.end(String(port)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    cleanup.after(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
  }
}

export interface FakeEngine {
  /** The unix socket it answers on (upstream.docker.socket). */
  socket: string;
  /** The `filters` query of every GET /containers/json and GET /events, in order. */
  readonly listFilters: string[];
  readonly eventFilters: string[];
  close(): Promise<void>;
}

/**
 * The two calls of the Docker Engine API that discovery makes, on a unix socket as the engine
 * serves them: GET /containers/json answers `containers`, GET /events stays open and silent.
 */
export async function startFakeEngine(containers: readonly ContainerSummary[]): Promise<FakeEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-walk-engine-'));
  const socket = join(dir, 'docker.sock');
  const listFilters: string[] = [];
  const eventFilters: string[] = [];
  const server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://engine');
    const filters = url.searchParams.get('filters') ?? '';
    if (url.pathname.endsWith('/containers/json')) {
      listFilters.push(filters);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(containers));
    } else if (url.pathname.endsWith('/events')) {
      eventFilters.push(filters);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"message":"page not found"}');
    }
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    listFilters,
    eventFilters,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
