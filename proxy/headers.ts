import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { acceptRequestId } from '../process/request-id.js';

/**
 * The header steps of the request path, each a plain function over a header object so it can
 * be tested alone. requestPrologue (prologue.ts) runs the request ones in order; responseHeaders
 * cleans the upstream's response head.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1 plus the Proxy-* family): never forwarded either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
]);

export interface ForwardedContext {
  /** The address of the peer that connected (IPv4-mapped IPv6 unwrapped). */
  peer: string;
  /** Whether that peer is a trusted proxy. */
  trusted: boolean;
  /** The client address after the realip rules: the peer, or from X-Forwarded-For when trusted. */
  clientIp: string;
  /** How the client reached us: https on the TLS listener (nginx `$scheme`). */
  scheme?: Scheme;
}

export type Scheme = 'http' | 'https';

/** The scheme a request came in by: https when its connection is TLS (HTTP/1.1 or h2). */
export function schemeOf(socket: object | null | undefined): Scheme {
  // A read, not `in`: over h2 the request's socket is a Proxy that answers reads only.
  return (socket as { encrypted?: unknown } | null | undefined)?.encrypted === true ? 'https' : 'http';
}

/** The request id: the trusted peer's X-Request-Id when well-formed, else a fresh one. */
export function requestId(headers: IncomingHttpHeaders, trusted: boolean): string {
  const id = trusted ? acceptRequestId(headers['x-request-id']) : randomUUID();
  headers['x-request-id'] = id;
  return id;
}

/**
 * X-Real-IP, X-Forwarded-For, X-Forwarded-Proto as nginx sets them with
 * `$remote_addr`, `$proxy_add_x_forwarded_for` and `$scheme`: a client's X-Real-IP is never
 * believed unless its peer is trusted; X-Forwarded-For keeps the client's list (repeated lines
 * were already joined with ", " by Node's parser) and appends the peer.
 */
export function forwardedHeaders(headers: IncomingHttpHeaders, ctx: ForwardedContext): void {
  const xff = headers['x-forwarded-for'];
  headers['x-forwarded-for'] = xff ? `${xff}, ${ctx.peer}` : ctx.peer;
  headers['x-real-ip'] = ctx.clientIp;
  if (!ctx.trusted || typeof headers['x-forwarded-proto'] !== 'string')
    headers['x-forwarded-proto'] = ctx.scheme ?? 'http';
}

/**
 * Removes hop-by-hop headers and every header named in Connection. In a WebSocket handshake
 * `Connection: upgrade` and `Upgrade: websocket` are the handshake itself and stay.
 * Returns whether the client asked to close its connection.
 */
export function stripHopByHop(headers: IncomingHttpHeaders, websocket = false): boolean {
  const connection = headers.connection;
  let close = false;
  if (connection) {
    for (const token of connection.split(',')) {
      const name = token.trim().toLowerCase();
      if (name === 'close') close = true;
      else if (websocket && name === 'upgrade') continue;
      else if (name && name !== 'keep-alive') delete headers[name];
    }
  }
  for (const name of HOP_BY_HOP) {
    if (websocket && (name === 'connection' || name === 'upgrade')) continue;
    if (headers[name] !== undefined) delete headers[name];
  }
  if (websocket) {
    headers.connection = 'upgrade';
    headers.upgrade = 'websocket';
  }
  return close;
}

/** Whether a request is a WebSocket handshake (the only upgrade that is ever forwarded). */
export function isWebSocketUpgrade(method: string | undefined, headers: IncomingHttpHeaders): boolean {
  const upgrade = headers.upgrade;
  return method === 'GET' && typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
}

/**
 * Headers a worker sends to its proxy, never to the client: nginx's default proxy_hide_header
 * list (X-Accel-Buffering is read on the way: see `ResponseSeen.unbuffered`).
 */
const FOR_THE_PROXY = new Set([
  'x-accel-expires',
  'x-accel-redirect',
  'x-accel-limit-rate',
  'x-accel-buffering',
  'x-accel-charset',
]);

/** What responseHeaders noticed in an upstream's head that the request path acts on. */
export interface ResponseSeen {
  /** The upstream's Connection says close. */
  close: boolean;
  /** X-Accel-Buffering: no, or a text/event-stream: the response is streamed, never buffered. */
  unbuffered?: boolean;
}

/**
 * The upstream's response head as a flat [name, value, ...] list for writeHead, without
 * hop-by-hop headers, headers the upstream's Connection names, or nginx's X-Accel-* headers.
 * Keeps order, case and repeated lines (Set-Cookie). Takes undici's raw header buffers or Node's
 * rawHeaders strings. Fills in `seen`.
 */
export function responseHeaders(
  rawHeaders: readonly (string | Buffer)[],
  requestIdValue: string,
  seen?: ResponseSeen,
): string[] {
  const out: string[] = [];
  let named: Set<string> | null = null;
  let hasId = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toString();
    const value = rawHeaders[i + 1]!.toString('latin1');
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') {
        named ??= new Set();
        for (const token of value.split(',')) named.add(token.trim().toLowerCase());
        if (seen && named.has('close')) seen.close = true;
      }
      continue;
    }
    if (lower === 'x-request-id') hasId = true;
    else if (lower === 'content-type') {
      if (seen && /^text\/event-stream/i.test(value)) seen.unbuffered = true;
    } else if (FOR_THE_PROXY.has(lower)) {
      if (seen && lower === 'x-accel-buffering' && value.trim().toLowerCase() === 'no')
        seen.unbuffered = true;
      continue;
    }
    out.push(name, value);
  }
  if (named) {
    // Rare: the upstream named extra hop-by-hop headers in Connection; drop those too.
    for (let i = out.length - 2; i >= 0; i -= 2) if (named.has(out[i]!.toLowerCase())) out.splice(i, 2);
  }
  if (!hasId) out.push('X-Request-Id', requestIdValue);
  return out;
}

/** Unwraps IPv4-mapped IPv6 peers (::ffff:127.0.0.1 → 127.0.0.1), as nginx reports them. */
export function peerAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
