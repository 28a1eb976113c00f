import type { IncomingHttpHeaders } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';

/**
 * An HTTP/2 request's head made the HTTP/1.1 head a worker gets, so the one request path
 * (forward.ts) serves both: the pseudo-headers go (`:authority` becomes Host), and a body sent
 * without a Content-Length (h2 frames it by END_STREAM) is marked chunked, which is how the
 * request path knows a body of unknown length is coming and how it goes to the worker.
 * Returns 431 when the head is over `maxHeaderSize` (as the HTTP/1.1 parser answers), else 0.
 */
export function http1Head(req: Http2ServerRequest, maxHeaderSize: number): number {
  const h2headers = req.headers;
  const headers: IncomingHttpHeaders = {};
  let size = 0;
  for (const name of Object.keys(h2headers)) {
    const value = h2headers[name];
    // Counted as an HTTP/1.1 line ("name: value\r\n"), so the limit means the same on both.
    size += name.length + 4 + (Array.isArray(value) ? value.join(', ').length : String(value ?? '').length);
    if (!name.startsWith(':')) headers[name] = value as string;
  }
  if (size > maxHeaderSize) return 431;
  const authority = h2headers[':authority'];
  if (headers.host === undefined && typeof authority === 'string') headers.host = authority;
  if (headers['content-length'] === undefined && !req.stream.endAfterHeaders)
    headers['transfer-encoding'] = 'chunked';
  // The request's own headers stay as they came: its url and method are read from them.
  Object.defineProperty(req, 'headers', { value: headers, writable: true, configurable: true });
  return 0;
}
