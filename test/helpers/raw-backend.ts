import { createServer, type Socket } from 'node:net';
import { listenLocal } from './net.js';

/**
 * A backend that parses HTTP/1.1 itself and records exactly what it received, so a test asserts
 * what a front forwarded — not what a framework made of it.
 */

export type Framing = 'length' | 'chunked' | 'none';

export interface RawMessage {
  /** The head exactly as received, start line through the blank line (latin1). */
  head: string;
  startLine: string;
  /** Header lines in the order received, names as sent. */
  headers: Array<[string, string]>;
  /** The body, de-chunked when it came chunked. */
  body: Buffer;
  framing: Framing;
}

/** Every value of a header (case-insensitive name), in order. */
export function headerValues(message: Pick<RawMessage, 'headers'>, name: string): string[] {
  const lower = name.toLowerCase();
  return message.headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** The single value of a header, or undefined; repeated lines are joined with ", ". */
export function headerValue(message: Pick<RawMessage, 'headers'>, name: string): string | undefined {
  const values = headerValues(message, name);
  return values.length === 0 ? undefined : values.join(', ');
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** Parses one chunked body from `buf` at `start`; null while incomplete. */
function readChunked(buf: Buffer, start: number): { body: Buffer; end: number } | null {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return null;
    const size = Number.parseInt(buf.toString('latin1', at, eol).split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size)) throw new Error(`bad chunk size at ${at}`);
    at = eol + 2;
    if (size === 0) {
      // Trailer lines, then the empty line.
      for (;;) {
        const end = buf.indexOf('\r\n', at);
        if (end < 0) return null;
        const empty = end === at;
        at = end + 2;
        if (empty) return { body: Buffer.concat(parts), end: at };
      }
    }
    if (buf.length < at + size + 2) return null;
    parts.push(buf.subarray(at, at + size));
    at += size + 2;
  }
}

/**
 * One HTTP/1.x message from the start of `buf`, or null while incomplete. `closed` says the peer closed, so a
 * response without Content-Length or chunking is complete: its body is whatever came before the close.
 */
export function readMessage(
  buf: Buffer,
  options: { response?: boolean; closed?: boolean; noBody?: boolean } = {},
): { message: RawMessage; consumed: number } | null {
  const headEnd = buf.indexOf(CRLF2);
  if (headEnd < 0) return null;
  const head = buf.toString('latin1', 0, headEnd + 4);
  const [startLine = '', ...lines] = head.slice(0, -4).split('\r\n');
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return colon < 0 ? [line, ''] : [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  const message = { head, startLine, headers };
  const bodyStart = headEnd + 4;
  const te = headerValue(message, 'transfer-encoding');
  const cl = headerValue(message, 'content-length');
  if (options.noBody)
    return { message: { ...message, body: Buffer.alloc(0), framing: 'none' }, consumed: bodyStart };
  if (te && /chunked/i.test(te)) {
    const chunked = readChunked(buf, bodyStart);
    if (!chunked) return null;
    return { message: { ...message, body: chunked.body, framing: 'chunked' }, consumed: chunked.end };
  }
  if (cl !== undefined) {
    const length = Number(cl.split(',')[0]);
    if (buf.length < bodyStart + length) return null;
    const body = buf.subarray(bodyStart, bodyStart + length);
    return { message: { ...message, body, framing: 'length' }, consumed: bodyStart + length };
  }
  if (options.response) {
    if (!options.closed) return null;
    return { message: { ...message, body: buf.subarray(bodyStart), framing: 'none' }, consumed: buf.length };
  }
  return { message: { ...message, body: Buffer.alloc(0), framing: 'none' }, consumed: bodyStart };
}

export interface RawRequest extends RawMessage {
  method: string;
  target: string;
  /** 1-based number of the backend connection it came on. */
  connection: number;
  /** When the whole request was in (performance.now()). */
  receivedAt: number;
}

/**
 * How to answer a request: a response (after an optional delay); a TCP reset before any byte;
 * `head-then-reset`, a response head and then, 100 ms later, a reset before any body byte (a worker
 * killed between its head and its body); or `silence`, no answer at all (the connection stays open,
 * silent, until the client or close() ends it); or `raw` bytes written as they are — a response no
 * framework would send (a garbage or oversized head, conflicting framing) — then, with `close`, the
 * backend's end closed.
 */
export type RawAnswer =
  | 'reset'
  | 'head-then-reset'
  | 'silence'
  | { raw: string | Buffer; close?: boolean }
  | {
      status?: number;
      body?: string | Buffer;
      headers?: Record<string, string>;
      delay?: number;
      close?: boolean;
      /** Informational heads (`HTTP/1.1 103 Early Hints` + fields) written before the delay. */
      informational?: readonly string[];
      /**
       * Only the head and the first `bodyBytes` of the body go out; then the backend closes its end
       * (what the kernel does for a worker killed with SIGKILL), resets the connection 100 ms later
       * (a worker that crashed with unread request bytes), or goes silent, the connection open.
       */
      cut?: { bodyBytes: number; after: 'close' | 'reset' | 'silence' };
    };

export interface RawBackendOptions {
  /** Named in the default body, so a client can tell which backend answered. */
  name?: string;
  answer?: RawAnswer | ((request: RawRequest) => RawAnswer);
  /** false: never read from a connection, so a front writing a large body finds it full. */
  reads?: boolean;
}

export interface RawBackend {
  name: string;
  port: number;
  /** "127.0.0.1:port", as a config's upstream server address. */
  address: string;
  readonly requests: readonly RawRequest[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** TCP connections open now. */
  readonly open: number;
  /** When each connection closed (performance.now()), by connection number - 1; undefined while open. */
  readonly closedAt: readonly (number | undefined)[];
  /** Every byte received, per connection. */
  readonly received: readonly Buffer[];
  /** Resolves once connection `n` (1-based) has closed: nothing more can arrive on it. */
  connectionClosed(n: number): Promise<void>;
  close(): Promise<void>;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  500: 'Internal Server Error',
};

function serialize(status: number, body: Buffer, headers: Record<string, string>, close: boolean): Buffer {
  const lines = [`HTTP/1.1 ${status} ${REASONS[status] ?? 'Status'}`, 'Content-Type: text/plain'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  lines.push(`Content-Length: ${body.length}`);
  if (close) lines.push('Connection: close');
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

export async function createRawBackend(options: RawBackendOptions = {}): Promise<RawBackend> {
  const { name = 'backend', answer = {}, reads = true } = options;
  const requests: RawRequest[] = [];
  const received: Buffer[] = [];
  const closedAt: (number | undefined)[] = [];
  const sockets = new Set<Socket>();
  const closed: Array<Promise<void>> = [];
  let connections = 0;

  const server = createServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    received.push(Buffer.alloc(0));
    closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
    closedAt.push(undefined);
    let pending = Buffer.alloc(0);
    let busy = Promise.resolve();
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      closedAt[connection - 1] = performance.now();
    });
    if (!reads) {
      socket.pause();
      return;
    }
    socket.on('data', (chunk: Buffer) => {
      received[connection - 1] = Buffer.concat([received[connection - 1]!, chunk]);
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        let parsed: ReturnType<typeof readMessage>;
        try {
          parsed = readMessage(pending);
        } catch {
          socket.destroy();
          return;
        }
        if (!parsed) return;
        pending = pending.subarray(parsed.consumed);
        const [method = '', target = ''] = parsed.message.startLine.split(' ');
        const request: RawRequest = {
          ...parsed.message,
          method,
          target,
          connection,
          receivedAt: performance.now(),
        };
        requests.push(request);
        // One answer at a time per connection, in order, as HTTP/1.1 requires.
        busy = busy.then(() => respond(socket, request));
      }
    });
  });

  async function respond(socket: Socket, request: RawRequest): Promise<void> {
    const chosen = typeof answer === 'function' ? answer(request) : answer;
    if (socket.destroyed) return;
    if (chosen === 'reset') {
      socket.resetAndDestroy();
      return;
    }
    if (chosen === 'silence') return;
    if (chosen === 'head-then-reset') {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n');
      setTimeout(() => socket.resetAndDestroy(), 100);
      return;
    }
    if ('raw' in chosen) {
      if (chosen.close) socket.end(chosen.raw);
      else socket.write(chosen.raw);
      return;
    }
    const { status = 200, body = `${name}\n`, headers = {}, delay = 0, close = false, cut } = chosen;
    for (const informational of chosen.informational ?? []) socket.write(`${informational}\r\n\r\n`);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    if (socket.destroyed) return;
    const bytes = serialize(status, Buffer.isBuffer(body) ? body : Buffer.from(body), headers, close);
    if (cut) {
      const sent = bytes.subarray(0, bytes.indexOf(CRLF2) + CRLF2.length + cut.bodyBytes);
      // end() sends what was written before the FIN, so the front reads the head, then the close.
      if (cut.after === 'close') socket.end(sent);
      else socket.write(sent);
      // The bytes are in before the reset, which would otherwise take them with it.
      if (cut.after === 'reset') setTimeout(() => socket.resetAndDestroy(), 100);
    } else if (close) socket.end(bytes);
    else socket.write(bytes);
  }

  const port = await listenLocal(server);
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    requests,
    get connections() {
      return connections;
    },
    get open() {
      return sockets.size;
    },
    closedAt,
    received,
    connectionClosed: (n) => closed[n - 1] ?? Promise.reject(new Error(`no connection ${n}`)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
