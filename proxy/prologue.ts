import type { IncomingHttpHeaders } from 'node:http';
import { forwardedHeaders, peerAddress, requestId, type Scheme, stripHopByHop } from './headers.js';
import type { Trust } from './trust.js';

/** Who sent a request and under which id, as the request prologue decided it. */
export interface RequestOrigin {
  /** The peer that connected (IPv4-mapped IPv6 unwrapped). */
  peer: string;
  /** Whether that peer is a trusted proxy. */
  trusted: boolean;
  /** The client address after the realip rules: the peer, or from X-Forwarded-For when trusted. */
  clientIp: string;
  requestId: string;
  /** The client asked to close its connection after this request (Connection: close). */
  close: boolean;
}

/**
 * The request prologue, the same for HTTP requests and WebSocket handshakes: turns the client's
 * headers into the ones a worker may trust, in this order —
 * 1. hop-by-hop headers removed (`stripHopByHop`), first: a header the client names in Connection
 *    must not take away one set next (`Connection: X-Real-IP`);
 * 2. the peer, whether it is trusted, the client address (`Trust`, nginx's realip);
 * 3. the request id (`requestId`): a trusted peer's, else a fresh one;
 * 4. X-Forwarded-For, X-Real-IP, X-Forwarded-Proto (`forwardedHeaders`).
 */
export function requestPrologue(
  headers: IncomingHttpHeaders,
  remoteAddress: string | undefined,
  trust: Trust,
  websocket = false,
  scheme: Scheme = 'http',
): RequestOrigin {
  const close = stripHopByHop(headers, websocket);
  const peer = peerAddress(remoteAddress);
  const trusted = trust.isTrusted(peer);
  const clientIp = trusted
    ? trust.clientAddress(peer, headers['x-forwarded-for'] as string | undefined)
    : peer;
  const id = requestId(headers, trusted);
  forwardedHeaders(headers, { peer, trusted, clientIp, scheme });
  return { peer, trusted, clientIp, requestId: id, close };
}
