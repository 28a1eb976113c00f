import type { RequestContext } from '../gateway.js';

export type RouteParams = Readonly<Record<string, string>>;

export type RouteHandler = (
  request: Request,
  params: RouteParams,
  context: RequestContext,
) => Response | Promise<Response>;

export interface Route {
  method: string;
  /** Literal segments and `:name` parameters, each matching one non-empty segment: `/delay/:ms`. */
  path: string;
  handler: RouteHandler;
}

export type RouteMatch =
  | { kind: 'found'; handler: RouteHandler; params: RouteParams }
  | { kind: 'method-not-allowed'; allow: readonly string[] }
  | { kind: 'not-found' };

export interface Router {
  match(method: string, pathname: string): RouteMatch;
}

/**
 * A hand-written route table (method × path pattern). Small routers answer "which handler for
 * this method and path" but not "which methods does this path have", and a correct 405 needs the
 * second: its Allow header lists every method of the path.
 */
export function createRouter(routes: readonly Route[]): Router {
  const compiled = routes.map((route) => ({ ...route, segments: route.path.split('/').slice(1) }));

  return {
    match(method, pathname) {
      const segments = pathname.split('/').slice(1);
      const allow: string[] = [];
      let found: RouteMatch | null = null;
      let getFallback: RouteMatch | null = null;
      for (const route of compiled) {
        const params = matchSegments(route.segments, segments);
        if (!params) continue;
        if (!allow.includes(route.method)) allow.push(route.method);
        if (route.method === method && !found) found = { kind: 'found', handler: route.handler, params };
        // HEAD is GET without the body (RFC 9110 §9.3.2): wherever GET is allowed, so is HEAD.
        if (route.method === 'GET' && !getFallback)
          getFallback = { kind: 'found', handler: route.handler, params };
      }
      if (found) return found;
      if (method === 'HEAD' && getFallback) return getFallback;
      if (allow.length === 0) return { kind: 'not-found' };
      const withHead = allow.includes('GET') && !allow.includes('HEAD') ? withHeadAfterGet(allow) : allow;
      return { kind: 'method-not-allowed', allow: withHead };
    },
  };
}

function matchSegments(pattern: readonly string[], actual: readonly string[]): RouteParams | null {
  if (pattern.length !== actual.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i]!;
    const got = actual[i]!;
    if (want.startsWith(':')) {
      if (got === '') return null;
      params[want.slice(1)] = got;
    } else if (want !== got) {
      return null;
    }
  }
  return params;
}

function withHeadAfterGet(methods: readonly string[]): string[] {
  return methods.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]));
}
