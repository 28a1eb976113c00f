import type { FetchHandler, RequestContext, WorkerInfo } from './gateway.js';

/**
 * WSGI (PEP 3333) on top of the gateway interface: an app written in the classic
 * `application(environ, start_response)` shape runs in a gatehouse worker unchanged in spirit.
 * Where Python has byte strings, chunks here are Uint8Array (strings are encoded as UTF-8).
 */

export type WsgiChunk = string | Uint8Array;
export type WsgiBody = Iterable<WsgiChunk> | AsyncIterable<WsgiChunk>;
export type WsgiHeaders = [name: string, value: string][];
/** The legacy imperative body API that start_response returns. */
export type WsgiWrite = (data: WsgiChunk) => void;
/** `excInfo` is the caught error: set, it lets an app replace a status not yet sent (else it is re-thrown). */
export type StartResponse = (status: string, headers: WsgiHeaders, excInfo?: unknown) => WsgiWrite;
export type WsgiApp = (environ: WsgiEnviron, startResponse: StartResponse) => WsgiBody | Promise<WsgiBody>;

/** wsgi.input: the request body, read in chunks by iteration or file-like with read(size). */
export interface WsgiInput extends AsyncIterable<Uint8Array> {
  /** Up to `size` bytes (everything left when omitted or negative); an empty array at the end. */
  read(size?: number): Promise<Uint8Array>;
}

/** wsgi.errors: a text stream for the app's error output. */
export interface WsgiErrors {
  write(text: string): void;
  flush(): void;
}

export interface WsgiEnviron {
  REQUEST_METHOD: string;
  SCRIPT_NAME: string;
  PATH_INFO: string;
  QUERY_STRING: string;
  CONTENT_TYPE?: string;
  CONTENT_LENGTH?: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  SERVER_PROTOCOL: string;
  REMOTE_ADDR: string;
  'wsgi.version': readonly [1, 0];
  'wsgi.url_scheme': string;
  'wsgi.input': WsgiInput;
  'wsgi.errors': WsgiErrors;
  'wsgi.multithread': false;
  'wsgi.multiprocess': true;
  'wsgi.run_once': false;
  /** Server extensions carry the server's prefix, as PEP 3333 asks. */
  'gatehouse.request_id': string;
  'gatehouse.worker': WorkerInfo | null;
  [header: `HTTP_${string}`]: string;
}

export interface WsgiOptions {
  /** Where the app is mounted; requests under it get the rest of the path as PATH_INFO. */
  scriptName?: string;
  errors?: WsgiErrors;
}

/** A broken WSGI contract (status line, headers, start_response misuse); the worker answers 500. */
export class WsgiError extends Error {
  readonly code = 'GH_ERR_WSGI';
  constructor(message: string) {
    super(message);
    this.name = 'WsgiError';
  }
}

const STATUS_LINE = /^(\d{3}) ([\x21-\x7e\x80-\xff][\t\x20-\x7e\x80-\xff]*)$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// PEP 3333: hop-by-hop headers are the server's business; an app sending one is an error.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
]);
const NULL_BODY = new Set([204, 205, 304]);

const stderrErrors: WsgiErrors = {
  write: (text) => void process.stderr.write(text),
  flush: () => {},
};

export function fromWsgi(app: WsgiApp, options: WsgiOptions = {}): FetchHandler {
  const { scriptName = '', errors = stderrErrors } = options;

  // The context comes in a rest parameter: toGatewayApp tells a Fetch handler from a Node
  // listener by its declared arity, and a Fetch handler must declare one parameter.
  return async function wsgiHandler(request: Request, ...[context]: [RequestContext?]): Promise<Response> {
    const environ = createEnviron(request, context, scriptName, errors);
    const exchange = createExchange();
    const result = await app(environ, exchange.startResponse);
    const chunks = iterate(result);
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      const closer = (result as { close?: unknown }).close;
      if (typeof closer === 'function') await closer.call(result);
    };

    // Headers are sent with the first non-empty chunk, or at the end of an empty body (PEP 3333).
    let first: Uint8Array | null;
    try {
      first = await exchange.nextChunk(chunks);
    } catch (err) {
      await close();
      throw err;
    }
    const start = exchange.send();
    if (!start) {
      await close();
      throw new WsgiError('the app returned without calling start_response');
    }
    if (NULL_BODY.has(start.status)) {
      await chunks.return?.();
      await close();
      return new Response(null, start);
    }

    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          try {
            const chunk = first ?? (await exchange.nextChunk(chunks));
            first = null;
            if (chunk) return controller.enqueue(chunk);
            controller.close();
            await close();
          } catch (err) {
            controller.error(err);
            await close();
          }
        },
        async cancel() {
          // The client went away: stop the app's iterator and let it release what it holds.
          await chunks.return?.();
          await close();
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, start);
  };
}

interface ResponseStart {
  status: number;
  statusText: string;
  headers: Headers;
}

/** start_response, write() and the rules between them, for one request. */
function createExchange() {
  let start: ResponseStart | null = null;
  let headersSent = false;
  let iterated = false;
  const written: Uint8Array[] = [];

  function write(data: WsgiChunk): void {
    written.push(toBytes(data));
  }

  function startResponse(status: string, headers: WsgiHeaders, excInfo?: unknown): WsgiWrite {
    if (excInfo !== undefined && excInfo !== null) {
      // Too late to change the status: PEP 3333 has the error re-raised to the app.
      if (headersSent) throw excInfo;
    } else if (start) {
      throw new WsgiError('start_response was called a second time without exc_info');
    }
    start = { ...parseStatus(status), headers: toHeaders(headers) };
    return write;
  }

  return {
    startResponse,
    /** The next non-empty chunk (write() calls first, then the iterable), or null at the end. */
    async nextChunk(chunks: AsyncIterator<WsgiChunk>): Promise<Uint8Array | null> {
      for (;;) {
        // write() calls made while the app produced the last chunk came before it.
        for (let data = written.shift(); data; data = written.shift()) if (data.byteLength > 0) return data;
        if (iterated) return null;
        const next = await chunks.next();
        if (next.done) iterated = true;
        else written.push(toBytes(next.value));
      }
    },
    send(): ResponseStart | null {
      headersSent = true;
      return start;
    },
  };
}

function parseStatus(status: string): { status: number; statusText: string } {
  const match = typeof status === 'string' ? STATUS_LINE.exec(status) : null;
  const code = match ? Number(match[1]) : 0;
  if (!match || code < 200 || code > 599) {
    throw new WsgiError(
      `malformed status line ${JSON.stringify(status)}: expected "200 OK", a code 200..599 and a reason`,
    );
  }
  return { status: code, statusText: match[2]! };
}

function toHeaders(list: WsgiHeaders): Headers {
  if (!Array.isArray(list)) throw new WsgiError('response headers must be a list of [name, value] pairs');
  const headers = new Headers();
  for (const entry of list) {
    const [name, value] = Array.isArray(entry) && entry.length === 2 ? entry : [];
    if (typeof name !== 'string' || !TOKEN.test(name))
      throw new WsgiError(`invalid header name ${JSON.stringify(name)}`);
    if (typeof value !== 'string' || !FIELD_VALUE.test(value)) {
      throw new WsgiError(`invalid value for header ${name}: ${JSON.stringify(value)}`);
    }
    if (HOP_BY_HOP.has(name.toLowerCase()))
      throw new WsgiError(`hop-by-hop header ${name} is not the app's to send`);
    headers.append(name, value);
  }
  return headers;
}

const encoder = new TextEncoder();

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') return encoder.encode(chunk);
  throw new WsgiError(
    `a body chunk must be a string or a Uint8Array, got ${chunk === null ? 'null' : typeof chunk}`,
  );
}

function iterate(body: WsgiBody): AsyncIterator<WsgiChunk> {
  // A string is iterable too, character by character: almost always a forgotten [ ].
  if (typeof body === 'string')
    throw new WsgiError('the app returned a string; return an iterable of chunks, e.g. [body]');
  if (body !== null && typeof body === 'object') {
    if (Symbol.asyncIterator in body) return body[Symbol.asyncIterator]();
    if (Symbol.iterator in body) {
      const iterator = body[Symbol.iterator]();
      return {
        next: async () => iterator.next(),
        return: async () => iterator.return?.() ?? { done: true, value: undefined },
      };
    }
  }
  throw new WsgiError('the app must return an iterable of body chunks');
}

function createEnviron(
  request: Request,
  context: RequestContext | undefined,
  scriptName: string,
  errors: WsgiErrors,
): WsgiEnviron {
  const url = new URL(request.url);
  let path = decodePath(url.pathname);
  let script = '';
  if (scriptName && (path === scriptName || path.startsWith(`${scriptName}/`))) {
    script = scriptName;
    path = path.slice(scriptName.length);
  }
  const https = url.protocol === 'https:';
  const environ: WsgiEnviron = {
    REQUEST_METHOD: request.method,
    SCRIPT_NAME: script,
    PATH_INFO: path,
    QUERY_STRING: url.search.slice(1),
    SERVER_NAME: url.hostname,
    SERVER_PORT: url.port || (https ? '443' : '80'),
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: context?.remoteAddress ?? '',
    'wsgi.version': [1, 0],
    'wsgi.url_scheme': https ? 'https' : 'http',
    'wsgi.input': createInput(request.body),
    'wsgi.errors': errors,
    'wsgi.multithread': false,
    'wsgi.multiprocess': true,
    'wsgi.run_once': false,
    'gatehouse.request_id': context?.requestId ?? '',
    'gatehouse.worker': context?.worker ?? null,
  };
  for (const [name, value] of request.headers) {
    if (name === 'content-type') environ.CONTENT_TYPE = value;
    else if (name === 'content-length') environ.CONTENT_LENGTH = value;
    // X-Foo_Bar and X-Foo-Bar would both become HTTP_X_FOO_BAR: a client could spoof a header
    // a proxy set. Like nginx and gunicorn, drop names with underscores.
    else if (!name.includes('_')) environ[`HTTP_${name.toUpperCase().replaceAll('-', '_')}`] = value;
  }
  return environ;
}

/** PATH_INFO is the decoded path; one that does not decode stays as sent. */
function decodePath(pathname: string): string {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

function createInput(body: ReadableStream<Uint8Array> | null): WsgiInput {
  const reader = body?.getReader() ?? null;
  let buffered: Uint8Array = new Uint8Array(0);
  let ended = reader === null;

  async function fill(): Promise<boolean> {
    if (ended || !reader) return false;
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      return false;
    }
    buffered = buffered.byteLength === 0 ? value : concat(buffered, value);
    return true;
  }

  async function read(size = -1): Promise<Uint8Array> {
    while ((size < 0 || buffered.byteLength < size) && (await fill())) {}
    const take = size < 0 ? buffered.byteLength : Math.min(size, buffered.byteLength);
    const out = buffered.subarray(0, take);
    buffered = buffered.subarray(take);
    return out;
  }

  return {
    read,
    async *[Symbol.asyncIterator]() {
      if (buffered.byteLength > 0) {
        const rest = buffered;
        buffered = new Uint8Array(0);
        yield rest;
      }
      while (await fill()) {
        const chunk = buffered;
        buffered = new Uint8Array(0);
        yield chunk;
      }
    },
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
