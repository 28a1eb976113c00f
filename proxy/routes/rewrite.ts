import type { RouteConfig } from '../../config/index.js';
import { encodePath, type RequestTarget, routePathKey } from './target.js';

/**
 * The path and query that go on to the pool (or follow a redirect's `to`): the target as the
 * client sent it, or — with strip_prefix — the normalised path with the route's prefix cut down to
 * its last "/", encoded again (nginx `proxy_pass http://pool/;` passes its normalised URI too).
 */
export function forwardedTarget(route: RouteConfig, target: RequestTarget, normalized: string): string {
  if (!route.stripPrefix) return `${target.path}${target.query}`;
  const rest = normalized.slice(routePathKey(route.path).length);
  return `${encodePath(`/${rest}`)}${target.query}`;
}

/** A redirect route's Location: `to` followed by the request's path and query (nginx `return 301 to$request_uri`). */
export function redirectLocation(to: string, forwarded: string): string {
  return `${to.endsWith('/') ? to.slice(0, -1) : to}${forwarded}`;
}
