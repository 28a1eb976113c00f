import { type Http2ServerResponse, type ServerHttp2Stream, sensitiveHeaders } from 'node:http2';

/** Response headers HPACK sends as literals never indexed. */
const NEVER_INDEXED: readonly string[] = ['x-request-id'];

type Respond = ServerHttp2Stream['respond'];

/**
 * X-Request-Id is new in every response: HPACK adding it to the connection's header table only
 * evicts the entries that do repeat (content-type, server, date…). With the table churning,
 * nghttp2's HPACK code took 3.5 µs CPU a response through the proxy, 0.9 µs with the id never
 * indexed (perf samples of its symbols, h2load 20 connections × 5 streams); nginx never indexes
 * response headers at all. Costs the id's name as a literal each time (about 9 bytes). Node's http2
 * core takes a never-index list on the head's object (`http2.sensitiveHeaders`); the compatibility
 * API's writeHead passes none, so the stream's respond() adds it to the head writeHead hands over.
 */
export function neverIndexRequestIds(res: Http2ServerResponse): void {
  res.stream.respond = respondNeverIndexing;
}

function respondNeverIndexing(this: ServerHttp2Stream, ...[headers, options]: Parameters<Respond>): void {
  if (headers) (headers as Record<symbol, unknown>)[sensitiveHeaders] = NEVER_INDEXED;
  (Object.getPrototypeOf(this) as { respond: Respond }).respond.call(this, headers, options);
}
