import type { IncomingHttpHeaders } from 'node:http';
import type { Route } from '../runtime.js';
import type { RouteMatcher } from './match.js';
import { forwardedTarget } from './rewrite.js';
import { normalizePath, parseRequestTarget } from './target.js';

/** Where a request goes: a route with the target it passes on, no route (404), or nowhere at all (400). */
export type Routing =
  | { kind: 'route'; route: Route; forwarded: string }
  | { kind: 'none'; host: string }
  | { kind: 'bad'; reason: string };

/**
 * Routes a request by the host and path it names. A target in absolute form
 * (`GET http://a.example/x`) is routed by its authority, which also replaces the Host header the
 * worker sees (RFC 9112 §3.2.2: a server must ignore Host then); `forwarded` is in origin form
 * either way, with the route's prefix stripped when it says so.
 */
export function routeRequest(
  req: { url?: string | undefined; headers: IncomingHttpHeaders },
  match: RouteMatcher<Route>,
): Routing {
  const target = parseRequestTarget(req.url ?? '/', req.headers.host);
  if (!target) return { kind: 'bad', reason: 'request target cannot be routed' };
  if (target.authority !== null) req.headers.host = target.authority;
  const normalized = normalizePath(target.path);
  if (normalized === null) return { kind: 'bad', reason: 'request path climbs above / or has a bad escape' };
  const route = match(target.host, normalized);
  if (!route) return { kind: 'none', host: target.host };
  return { kind: 'route', route, forwarded: forwardedTarget(route.config, target, normalized) };
}
