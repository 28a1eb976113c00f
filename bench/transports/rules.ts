import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  forwardedHeaders,
  peerAddress,
  requestId,
  responseHeaders,
  stripHopByHop,
} from '../../proxy/headers.js';

/**
 * The header rules every transport applies, taken from the real proxy (proxy/headers.ts) so that
 * only the transport differs: a request id, X-Forwarded-For appended with ", ", X-Real-IP and
 * X-Forwarded-Proto set (no trusted proxies: the peer is the client), hop-by-hop headers removed
 * both ways, X-Request-Id on the response.
 */
export interface Prepared {
  requestId: string;
  hasBody: boolean;
}

export function prepareRequest(req: IncomingMessage, res: ServerResponse): Prepared {
  const headers = req.headers;
  const peer = peerAddress(req.socket.remoteAddress);
  const id = requestId(headers, false);
  forwardedHeaders(headers, { peer, trusted: false, clientIp: peer });
  if (stripHopByHop(headers)) res.shouldKeepAlive = false;
  if (headers.expect !== undefined) delete headers.expect;
  const length = headers['content-length'];
  return {
    requestId: id,
    hasBody: headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0'),
  };
}

/** The response head for writeHead, from undici's parsed header object. */
export function responseHeadersFromObject(headers: IncomingHttpHeaders, id: string): string[] {
  const flat: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) flat.push(name, v);
    else if (value !== undefined) flat.push(name, value);
  }
  return responseHeaders(flat, id);
}

export { responseHeaders };

export function badGateway(res: ServerResponse, id: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(502, { 'Content-Type': 'text/plain', 'Content-Length': 12, 'X-Request-Id': id });
  res.end('bad gateway\n');
}

/** `node dist/bench/transports/<name>.js PORT UPSTREAM_PORT` */
export function transportArgs(): { port: number; upstream: { host: string; port: number } } {
  const [port, upstreamPort] = process.argv.slice(2).map(Number);
  return { port: port ?? 0, upstream: { host: '127.0.0.1', port: upstreamPort ?? 0 } };
}

/** The listening side, the same for every transport (client keep-alive as our proxy sets it). */
export function serveTransport(
  port: number,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): void {
  const server = createServer({ keepAliveTimeout: 75_000, requestTimeout: 0 }, handler);
  server.listen(port, '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
}
