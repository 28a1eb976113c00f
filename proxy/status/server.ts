import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { StatusSnapshot } from '../../stack/status.js';
import { renderStatusPage } from './page.js';

export interface StatusServerOptions {
  getSnapshot: () => StatusSnapshot;
  metrics: { registry: Registry };
  logger?: Pick<Logger, 'error'>;
  /** Seconds between reloads of the HTML page. */
  refreshSeconds?: number;
  /** Paths served by someone else first (development reload); returns whether it answered. */
  extraRoutes?: ExtraRoutes;
  /**
   * status.token now (read per request, so a config reload changes it): when not null, every
   * request but GET /healthz needs `Authorization: Bearer <token>`.
   */
  getToken?: () => string | null;
}

export type ExtraRoutes = (
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  searchParams: URLSearchParams,
) => boolean;

const allow = 'GET, HEAD';

// The page is self-contained: no scripts at all, styles only inline. A hostile upstream name that
// slipped past escaping still could not run or load anything.
const htmlHeaders = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
} as const;

/**
 * The status listener: `/status` (HTML for people, JSON for `Accept: application/json` or
 * `?format=json`) and `/metrics` (Prometheus). Returned not listening; the caller picks the address.
 */
export function createStatusServer({
  getSnapshot,
  metrics,
  logger,
  refreshSeconds = 2,
  extraRoutes,
  getToken = () => null,
}: StatusServerOptions): Server {
  const server = createServer(function handleStatusRequest(req, res) {
    route(req, res).catch((err: unknown) => fail(res, err));
  });
  // Malformed request heads: answer 400 where the socket still can, never let it throw.
  server.on('clientError', (_err, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname, searchParams } = parseTarget(req.url);
    // For probes (Docker HEALTHCHECK, Kubernetes liveness) that cannot hold a secret: says only that
    // the proxy process answers, nothing about the pool.
    if (pathname === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', allow);
        return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      }
      res.setHeader('cache-control', 'no-store');
      return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
    }
    // Before every other path, the dev-reload ones included: they act, not only show.
    const token = getToken();
    if (token !== null && !authorized(req.headers.authorization, token)) {
      res.setHeader('www-authenticate', 'Bearer realm="gatehouse status"');
      res.setHeader('cache-control', 'no-store');
      return send(res, 401, 'text/plain; charset=utf-8', 'unauthorized\n');
    }
    if (extraRoutes?.(req, res, pathname, searchParams)) return;
    if (pathname !== '/' && pathname !== '/status' && pathname !== '/metrics') {
      return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', allow);
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    if (pathname === '/') {
      res.setHeader('location', '/status');
      return send(res, 302, 'text/plain; charset=utf-8', 'see /status\n');
    }
    if (pathname === '/metrics') {
      const text = await metrics.registry.metrics();
      res.setHeader('cache-control', 'no-store');
      return send(res, 200, metrics.registry.contentType, text);
    }
    const snapshot = getSnapshot();
    res.setHeader('vary', 'Accept');
    if (searchParams.get('format') === 'json' || prefersJson(req.headers.accept)) {
      res.setHeader('cache-control', 'no-store');
      return send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(snapshot, null, 2)}\n`);
    }
    for (const [name, value] of Object.entries(htmlHeaders)) res.setHeader(name, value);
    return send(res, 200, htmlHeaders['content-type'], renderStatusPage(snapshot, { refreshSeconds }));
  }

  function fail(res: ServerResponse, err: unknown): void {
    logger?.error({ err }, 'status listener: request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    try {
      send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
    } catch {
      res.destroy();
    }
  }

  return server;
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', Buffer.byteLength(body));
  // Node drops the body of a HEAD response by itself, keeping the length a GET would have.
  res.end(body);
}

/**
 * Whether an Authorization header carries `Bearer <token>`. Both sides are hashed first, so the
 * constant-time compare gets equal-length buffers and the time taken says nothing about the
 * token's length or how much of it matched. A `?token=` query is not accepted: URLs end up in
 * browser history, shell history and access logs; a browser reaches the page over a tunnel to a
 * loopback status.listen, where no token is needed.
 */
export function authorized(header: string | undefined, token: string): boolean {
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  if (!match) return false;
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}

function parseTarget(target: string | undefined): { pathname: string; searchParams: URLSearchParams } {
  try {
    const url = new URL(target ?? '/', 'http://status.invalid');
    return { pathname: url.pathname, searchParams: url.searchParams };
  } catch {
    return { pathname: '', searchParams: new URLSearchParams() };
  }
}

/** True when the Accept header ranks application/json above text/html (absent counts as q=0). */
export function prefersJson(accept: string | undefined): boolean {
  if (!accept) return false;
  let json = 0;
  let html = 0;
  for (const part of accept.split(',')) {
    const [range = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (range === 'application/json') json = Math.max(json, q);
    else if (range === 'text/html') html = Math.max(html, q);
  }
  return json > 0 && json >= html;
}
