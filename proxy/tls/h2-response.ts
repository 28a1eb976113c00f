import type { OutgoingHttpHeaders } from 'node:http';
import { type Http2ServerResponse, type ServerStreamResponseOptions, sensitiveHeaders } from 'node:http2';

/** Response headers HPACK sends as literals never indexed. */
const NEVER_INDEXED: readonly string[] = ['x-request-id'];

/**
 * Headers HTTP/2 forbids in a response (RFC 9113 8.2.2): Node's http2 core throws on them. The
 * request path strips them from a worker's answer already (headers.ts); this is the last guard for
 * every other head (errors, static files, a route's own headers). Not headers.ts's hop-by-hop set:
 * that one also drops Proxy-Authenticate and Trailer, which a 407 or a route's own head may carry.
 */
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * Headers Node's http2 core takes once only (its kSingleValueHeaders, lib/internal/http2/util.js):
 * given twice, respond() throws. HTTP/1.1 passes such a repeat on; over HTTP/2 the last one is
 * sent (as nginx keeps the last Content-Type). Pseudo-headers are never in a worker's answer.
 */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials',
  'access-control-max-age',
  'access-control-request-method',
  'age',
  'authorization',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'dnt',
  'etag',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'tk',
  'upgrade-insecure-requests',
  'user-agent',
  'x-content-type-options',
]);

type HeadArgument = OutgoingHttpHeaders | readonly (string | number | readonly string[])[] | undefined;
type WriteHead = Http2ServerResponse['writeHead'];

/**
 * Gives an HTTP/2 response a writeHead that hands the head to the stream's respond() itself, in
 * place of the compatibility API's. That one validates and lower-cases every header twice (its
 * own setHeader path, then respond()'s), removes each name before adding it, and always asks for
 * trailers, which costs a 'wantTrailers' event and an empty frame per response; together about 5
 * µs a proxied response (CPU profile, h2load 20 connections × 5 streams). It also throws on a
 * header HTTP/2 takes once, so a worker answering with two Content-Type lines had its stream reset
 * with no answer; here the last one is sent. Same contract otherwise: headers set before with
 * setHeader are sent, those given here replace them by name, `statusCode` and `headersSent` read
 * as before, a reason phrase is dropped (HTTP/2 has none), and the Date header is added unless
 * `sendDate` is off. Also sends X-Request-Id as a never-indexed literal: new in every response,
 * HPACK adding it to the connection's header table only evicts entries that do repeat (nghttp2's
 * HPACK took 3.5 µs a response with it indexed, 0.9 µs without; nginx never indexes response
 * headers). Replaced per response rather than on the prototype, so the development reload's own
 * writeHead (dev-reload/inject.ts), installed later on the same response, still wraps this one.
 */
export function respondDirectly(res: Http2ServerResponse): void {
  res.writeHead = writeHeadDirect as WriteHead;
}

function writeHeadDirect(
  this: Http2ServerResponse,
  statusCode: number,
  reason?: string | HeadArgument,
  given?: HeadArgument,
): Http2ServerResponse {
  const { stream } = this;
  if (stream.destroyed || stream.closed) return this;
  // writeHead's headers first, then setHeader's under the names it did not give (it replaces them):
  // no header is ever deleted from the head, which would turn it into a slower dictionary object.
  const head: OutgoingHttpHeaders = {};
  const headers = typeof reason === 'string' ? given : reason;
  if (Array.isArray(headers)) addList(head, headers);
  else if (headers) {
    const object = headers as OutgoingHttpHeaders;
    for (const name of Object.keys(object)) add(head, name, object[name]);
  }
  const set = this.getHeaders();
  for (const name of Object.keys(set)) if (head[name] === undefined) add(head, name, set[name]);
  // The compatibility API's setter: the same range checks, and what the access log reads.
  this.statusCode = statusCode;
  head[':status'] = statusCode;
  (head as Record<symbol, unknown>)[sensitiveHeaders] = NEVER_INDEXED;
  // end() before any writeHead comes here with writableEnded set: the head then ends the stream.
  // `sendDate` is respond()'s too, though not in its type (what the compatibility API passes).
  const options: ServerStreamResponseOptions & { sendDate: boolean } = {
    endStream: this.writableEnded,
    sendDate: this.sendDate,
  };
  stream.respond(head, options);
  return this;
}

/** A flat [name, value, …] list or [name, value] pairs; repeats kept. */
function addList(head: OutgoingHttpHeaders, list: readonly unknown[]): void {
  if (list.length > 0 && Array.isArray(list[0])) {
    for (const pair of list as readonly (readonly [string, unknown])[]) add(head, String(pair[0]), pair[1]);
    return;
  }
  for (let i = 0; i < list.length; i += 2) add(head, String(list[i]), list[i + 1]);
}

/** One header line (or a list of values) into the head, unless HTTP/2 forbids it. */
function add(head: OutgoingHttpHeaders, name: string, value: unknown): void {
  if (value === undefined || value === null) return;
  const key = name.toLowerCase();
  if (CONNECTION_SPECIFIC.has(key)) return;
  if (key === 'te' && value !== 'trailers') return;
  const values = Array.isArray(value) ? value.map(String) : null;
  const text = values ?? String(value);
  const before = head[key];
  if (SINGLE_VALUE.has(key)) head[key] = values ? values[values.length - 1] : text;
  else if (before === undefined) head[key] = text;
  else head[key] = ([] as string[]).concat(before as string | string[], text);
}
