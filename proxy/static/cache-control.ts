import type { RouteStaticTarget } from '../../config/index.js';

/**
 * The caching headers of a static route, as nginx's `expires` (+ `add_header Cache-Control
 * immutable`) sends them: `Cache-Control: max-age=N` and `Expires` N seconds from now; with
 * `immutable`, that word too. `expires: off` sends neither (only `immutable` when asked).
 */
export function cacheHeaders(target: RouteStaticTarget, now: number = Date.now()): Record<string, string> {
  const directives: string[] = [];
  const headers: Record<string, string> = {};
  if (target.expires !== null) {
    const seconds = Math.round(target.expires / 1000);
    directives.push(`max-age=${seconds}`);
    headers.Expires = new Date(now + seconds * 1000).toUTCString();
  }
  if (target.immutable) directives.push('immutable');
  if (directives.length > 0) headers['Cache-Control'] = directives.join(', ');
  return headers;
}
