import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import {
  type Config,
  type ConfigDoc,
  defaultConfigFile,
  mergeConfigDocs,
  parseConfig,
} from '../../config/index.js';
import { createLogger } from '../../process/logger.js';
import { createProxyServer, type ProxyServer, type ProxyServerOptions } from '../../proxy/index.js';
import {
  childEnv,
  collectLines,
  createLogBook,
  forkGatehouse,
  killOnExit,
  type LogLine,
  type StopResult,
} from './child.js';
import { readMessage } from './raw-backend.js';

export { gatehouseBin, type LogLine, type StopResult } from './child.js';

export type { ConfigDoc };

/** Anything with an `after` hook: a test context, or a suite's `after`. */
export interface Cleanup {
  after(fn: () => unknown): void;
}

/** The embedded default config, as a document. */
export function defaultDoc(): ConfigDoc {
  return parseYaml(readFileSync(defaultConfigFile, 'utf8')) as ConfigDoc;
}

/**
 * What every integration test starts from: loopback port 0 for both listeners, no access log, no
 * active health checks (probes would count as upstream connections and requests). Info level:
 * tests wait for "listening" and "configuration reloaded".
 */
export const TEST_BASE: ConfigDoc = {
  listen: '127.0.0.1:0',
  status: { listen: '127.0.0.1:0' },
  access_log: { path: 'off' },
  upstream: { health: { enabled: false } },
  log_level: 'info',
};

/** The default document with the test base and then `overrides` merged over it. */
export function testDoc(overrides: ConfigDoc = {}): ConfigDoc {
  return mergeConfigDocs(mergeConfigDocs(defaultDoc(), TEST_BASE), overrides) as ConfigDoc;
}

/** A resolved Config from overrides (over the test base and the default). */
export function testConfig(overrides: ConfigDoc = {}): Config {
  return parseConfig(testDoc(overrides), null);
}

/** `upstream.servers` entries for loopback ports (or full entries). */
export function servers(...targets: Array<number | ConfigDoc>): ConfigDoc[] {
  return targets.map((t) => (typeof t === 'number' ? { address: `127.0.0.1:${t}` } : t));
}

export interface InProcessProxy {
  server: ProxyServer;
  port: number;
  statusPort: number;
  config: Config;
  /** Every line the proxy's logger wrote. */
  logs: LogLine[];
  waitForLog(predicate: (line: LogLine) => boolean, timeout?: number): Promise<LogLine>;
  /** Lines at error level or worse (pino: 50+) whose msg is one of the "should never happen" ones. */
  crashes(): LogLine[];
  close(): Promise<void>;
}

/**
 * The proxy in this process (createProxyServer over a parsed config), listening on loopback port 0.
 * Closed by the cleanup's `after`, pass or fail.
 */
export async function startProxy(
  cleanup: Cleanup | null,
  overrides: ConfigDoc = {},
  serverOptions: Omit<ProxyServerOptions, 'logger'> = {},
): Promise<InProcessProxy> {
  const config = testConfig(overrides);
  const book = createLogBook();
  const push = collectLines(book.push);
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      push(chunk.toString());
      callback();
    },
  });
  const logger = createLogger({ name: 'proxy', level: config.logLevel }, sink);
  const server = createProxyServer(config, { ...serverOptions, logger });
  let closed: Promise<void> | null = null;
  const close = () => {
    closed ??= server.shutdown();
    return closed;
  };
  cleanup?.after(close);
  await server.listen();
  return {
    server,
    port: server.address.port,
    statusPort: server.statusAddress.port,
    config,
    logs: book.lines,
    waitForLog: (predicate, timeout) => book.waitFor(predicate, timeout),
    crashes: () => book.lines.filter(isCrash),
    close,
  };
}

function isCrash(line: LogLine): boolean {
  return (
    line.msg === 'uncaught exception' || line.msg === 'unhandled rejection' || line.msg === 'proxy error'
  );
}

export interface ProxyProcess {
  child: ChildProcess;
  pid: number;
  /** The client port and status port from the (first) "listening" line. */
  port: number;
  statusPort: number;
  /** The config file the process reads (and re-reads on SIGHUP). */
  configFile: string;
  logs: LogLine[];
  waitForLog(predicate: (line: LogLine) => boolean, timeout?: number, from?: number): Promise<LogLine>;
  crashes(): LogLine[];
  stderr(): string;
  exited: Promise<StopResult>;
  /** Replaces the config file with `overrides` over the test base and default (for SIGHUP). */
  writeConfig(overrides: ConfigDoc | string): void;
  signal(signal: NodeJS.Signals): void;
  /** Signal (SIGTERM by default), wait up to `timeout`, then SIGKILL; always leaves it dead. */
  stop(options?: { signal?: NodeJS.Signals; timeout?: number }): Promise<StopResult>;
  describe(): string;
}

export interface StartProxyProcessOptions {
  /** Overrides over the test base (listen and status on port 0, no access log, no health). */
  config?: ConfigDoc;
  /** No --config at all: the embedded default (and $GATEHOUSE_CONFIG removed). */
  embeddedDefault?: boolean;
  env?: Record<string, string>;
  /** How long to wait for 'ready' (default 15 s; 45 s with listeners > 1). */
  startTimeout?: number;
  /** How many "listening" lines to wait for (instances > 1 logs one per process). */
  listeners?: number;
}

/**
 * `node bin/gatehouse.js proxy --config FILE` as a real child process (IPC, as pm2 runs it);
 * resolves once it logged "listening" (port, statusPort) and sent 'ready'. Stopped by the
 * cleanup's `after`, pass or fail.
 */
export function startProxyProcess(
  cleanup: Cleanup | null,
  options: StartProxyProcessOptions = {},
): Promise<ProxyProcess> {
  const { config = {}, embeddedDefault = false, env = {}, listeners = 1 } = options;
  // A bound on a hang, not a speed check. A cluster starts its primary and then every process
  // loads the whole proxy at once: on CI's loaded two cores, with other test files and Docker
  // builds beside it, one of two processes was still loading after 15 s (twice in twenty runs).
  const { startTimeout = listeners > 1 ? 45_000 : 15_000 } = options;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-proxy-'));
  const configFile = join(dir, 'config.yaml');
  const writeConfig = (overrides: ConfigDoc | string) =>
    // JSON is YAML: the document needs no serializer of its own.
    writeFileSync(configFile, typeof overrides === 'string' ? overrides : JSON.stringify(testDoc(overrides)));
  writeConfig(config);
  const args = embeddedDefault ? ['proxy'] : ['proxy', '--config', configFile];
  const { child, book, stderr, exited, stop, describe } = forkGatehouse(args, childEnv(env), dir);
  cleanup?.after(() => stop());

  return new Promise((resolve, reject) => {
    let ready = false;
    let settled = false;
    const timer = setTimeout(() => {
      void stop({ signal: 'SIGKILL' });
      reject(new Error(`proxy did not start within ${startTimeout} ms\n${describe()}`));
    }, startTimeout);
    const settle = () => {
      const listening = book.lines.filter((l) => l.msg === 'listening' && typeof l.port === 'number');
      if (settled || !ready || listening.length < listeners) return;
      settled = true;
      clearTimeout(timer);
      book.listeners.delete(settle);
      const first = listening[0]!;
      resolve({
        child,
        pid: child.pid!,
        port: first.port as number,
        statusPort: first.statusPort as number,
        configFile,
        logs: book.lines,
        waitForLog: book.waitFor,
        crashes: () => book.lines.filter(isCrash),
        stderr,
        exited,
        writeConfig,
        signal: (signal) => child.kill(signal),
        stop,
        describe,
      });
    };
    book.listeners.add(settle);
    child.on('message', (message) => {
      if (message !== 'ready') return;
      ready = true;
      settle();
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      book.listeners.delete(settle);
      // A no-op once resolved; otherwise the proxy died before it was up.
      reject(new Error(`proxy exited (code ${code}, signal ${signal}) before it was ready\n${describe()}`));
    });
  });
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
}

export interface RequestOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  timeout?: number;
  /**
   * The address to connect from: another loopback address (127.0.0.2) is a client the far end
   * can tell apart from one on 127.0.0.1. The system picks one when omitted.
   */
  localAddress?: string;
}

/** One request on a fresh connection (no agent), body read to the end. */
export function request(port: number, options: RequestOptions = {}): Promise<HttpResult> {
  const { method = 'GET', path = '/', headers = {}, body, timeout = 15_000, localAddress } = options;
  return new Promise((resolve, reject) => {
    const target = { host: '127.0.0.1', port, method, path, headers, agent: false, localAddress };
    const req = httpRequest(target, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const all = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: all,
          text: all.toString('utf8'),
        });
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${timeout} ms`)), timeout);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

/** The sample site's GET /headers answer. */
export interface HeadersEcho {
  headers: Record<string, string>;
  worker: { pid?: number; port?: number; instance?: number; [key: string]: unknown };
}

export function json<T>(result: HttpResult): T {
  return JSON.parse(result.text) as T;
}

/** The request headers a worker received (GET /headers through the proxy). */
export async function workerHeaders(
  port: number,
  headers: Record<string, string | string[]> = {},
): Promise<HeadersEcho & { response: HttpResult }> {
  const response = await request(port, { path: '/headers', headers });
  if (response.status !== 200) throw new Error(`GET /headers answered ${response.status}: ${response.text}`);
  return { ...json<HeadersEcho>(response), response };
}

export interface RawExchange {
  /** Every byte the proxy sent before it closed (or the wait ended). */
  raw: Buffer;
  text: string;
  /** From the first status line, or 0 when none came. */
  status: number;
  /** Whether the proxy closed the connection (else the wait ended with it open). */
  closed: boolean;
}

/**
 * Writes exact bytes (parts with `gap` ms between them) on a new connection and collects what
 * comes back until the proxy closes or `wait` ms passed; or, with `untilResponse`, until one
 * complete response is in (`responses`: until that many are).
 */
export function rawExchange(
  port: number,
  parts: Buffer | string | ReadonlyArray<Buffer | string>,
  options: {
    wait?: number;
    gap?: number;
    untilResponse?: boolean;
    responses?: number;
    endAfterWrite?: boolean;
  } = {},
): Promise<RawExchange> {
  const { wait = 5000, gap = 0, untilResponse = false, endAfterWrite = false } = options;
  const responses = options.responses ?? (untilResponse ? 1 : 0);
  const list = Array.isArray(parts) ? parts : [parts as Buffer | string];
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let raw = Buffer.alloc(0);
    let done = false;
    let closed = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = raw.toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ raw, text, status, closed });
    };
    const timer = setTimeout(finish, wait);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      raw = Buffer.concat([raw, chunk]);
      if (responses > 0 && completeResponses(raw) >= responses) finish();
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('connect', async () => {
      for (const [i, part] of list.entries()) {
        if (i > 0 && gap > 0) await new Promise((r) => setTimeout(r, gap));
        if (socket.destroyed) return;
        socket.write(typeof part === 'string' ? Buffer.from(part, 'latin1') : part);
      }
      if (endAfterWrite) socket.end();
    });
  });
}

/** How many complete final responses `raw` holds, one after another (1xx interim ones not counted). */
function completeResponses(raw: Buffer): number {
  let count = 0;
  for (let rest = raw; ; ) {
    const end = responseEnd(rest);
    if (end === null) return count;
    if (!/^HTTP\/1\.[01] 1\d\d /.test(rest.toString('latin1', 0, 13))) count++;
    rest = rest.subarray(end);
  }
}

/** Where the first response in `raw` ends (a 1xx is a response of its own here), or null while incomplete. */
function responseEnd(raw: Buffer): number | null {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = raw.toString('latin1', 0, end);
  if (/^HTTP\/1\.[01] (1\d\d|204|304) /.test(head)) return end + 4;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
  if (length !== undefined) return raw.length >= end + 4 + Number(length) ? end + 4 + Number(length) : null;
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const parsed = readMessage(raw, { response: true });
    return parsed ? parsed.consumed : null;
  }
  return null;
}

/** A request head written byte for byte: lines joined with CRLF, then the blank line. */
export function head(...lines: string[]): string {
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Resident set size of a process, in bytes (Linux /proc). */
export function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kb) * 1024;
}

/** Whether every port can be bound on 127.0.0.1 right now. */
export async function portsFree(ports: readonly number[]): Promise<boolean> {
  for (const port of ports) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}

export { closedPort } from './net.js';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `every` ms until it returns true or `timeout` passes; returns the last answer. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeout = 10_000,
  every = 50,
): Promise<boolean> {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(every);
  }
}

/**
 * Resolves once the proxy (its /metrics on `statusPort`) has no client connection open and no
 * request in flight: whatever earlier connections set off has run its course, so a check that
 * nothing went wrong (no crash, a count) is not made before it could have gone wrong.
 */
export async function proxyQuiet(statusPort: number, timeout = 10_000): Promise<void> {
  let open = '';
  const quiet = await eventually(async () => {
    const text = (await request(statusPort, { path: '/metrics' })).text;
    const lines = text.split('\n');
    const connections = lines.filter((l) => l.startsWith('gatehouse_client_connections '));
    const inFlight = lines.filter((l) => l.startsWith('gatehouse_upstream_in_flight{'));
    open = [...connections, ...inFlight].join('\n');
    return connections.length === 1 && [...connections, ...inFlight].every((l) => l.endsWith(' 0'));
  }, timeout);
  if (!quiet) throw new Error(`the proxy still had connections or requests after ${timeout} ms:\n${open}`);
}

export interface CountingRelay {
  port: number;
  /** TCP connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** A TCP relay to a loopback port that counts the connections made to it (upstream connection counting). */
export async function createCountingRelay(targetPort: number): Promise<CountingRelay> {
  let connections = 0;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    connections++;
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => open.delete(socket));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface Blackhole {
  port: number;
  close(): void;
}

/**
 * A loopback port where TCP connects hang (no SYN-ACK): a child process listens with backlog 1
 * and blocks its event loop inside the listen callback, so it never accepts; once its accept queue
 * is full (filled here), the kernel drops further SYNs. The way to get a connect timeout without
 * leaving 127.0.0.0/8. Filled connection by connection until the kernel's own count (/proc/net/tcp)
 * says the queue is full, never judged by how long a connect took.
 */
export async function startBlackhole(): Promise<Blackhole> {
  const backlog = 1;
  const script = [
    "const s = require('net').createServer();",
    `s.listen({ port: 0, host: '127.0.0.1', backlog: ${backlog} }, () => {`,
    // Written synchronously, then blocked before the loop could accept a connection.
    "  require('fs').writeSync(1, s.address().port + '\\n');",
    '  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);',
    '});',
  ].join('\n');
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  const forget = killOnExit(child);
  const fillers: Socket[] = [];
  const close = () => {
    for (const socket of fillers) socket.destroy();
    child.kill('SIGKILL');
    forget();
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('blackhole did not start')), 10_000);
      child.stdout!.once('data', (data: Buffer) => {
        clearTimeout(timer);
        resolve(Number(String(data).trim()));
      });
    });
    // Linux counts a listener's accept queue as full once it holds more than the backlog.
    while (acceptQueue(port) <= backlog) {
      if (fillers.length >= 16) throw new Error(`the accept queue of ${port} never filled`);
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      fillers.push(socket);
      const queued = fillers.length;
      const filled = await eventually(() => acceptQueue(port) >= queued, 10_000, 5);
      if (!filled) throw new Error(`connection ${queued} never reached the accept queue of ${port}`);
    }
    return { port, close };
  } catch (err) {
    close();
    throw err;
  }
}

/** The connections waiting in the accept queue of the listener on 127.0.0.1:port (Linux /proc/net/tcp). */
function acceptQueue(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    // sl, local_address, rem_address, st (0A: LISTEN), tx_queue:rx_queue (rx: the accept queue)
    if (fields[1] === local && fields[3] === '0A') return Number.parseInt(fields[4]!.split(':')[1]!, 16);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}
