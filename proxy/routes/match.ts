import { routePathKey } from './target.js';

/** What the matcher needs of a route: where it answers. */
export interface RouteKey {
  /** Exact name, "*.suffix", or null for any host. Lower case. */
  readonly host: string | null;
  readonly path: string;
}

/** Picks the route for a host and a normalised path (target.ts); null = no route, 404. */
export type RouteMatcher<R extends RouteKey> = (host: string, path: string) => R | null;

/**
 * nginx's two steps, as a pure function of the route list: the server by name — the exact name,
 * else the longest leading wildcard (`*.example.com` takes `a.example.com` and `a.b.example.com`,
 * not `example.com`), else the routes without a host (the default server) — then, among that
 * server's routes only, the longest path prefix (a plain string prefix, as nginx's `location
 * /prefix`). A host that matches no server, or a path that matches no route of its server, gets
 * null: nginx's 404, never a route of another host.
 */
export function createRouteMatcher<R extends RouteKey>(routes: readonly R[]): RouteMatcher<R> {
  const exact = new Map<string, R[]>();
  const wildcards = new Map<string, R[]>();
  const anyHost: R[] = [];
  for (const route of routes) {
    const host = route.host;
    const group =
      host === null
        ? anyHost
        : host.startsWith('*.')
          ? getOrAdd(wildcards, host.slice(1))
          : getOrAdd(exact, host);
    group.push(route);
  }
  const byLongestPath = (group: R[]) =>
    group
      .map((route) => ({ route, prefix: routePathKey(route.path) }))
      .sort((a, b) => b.prefix.length - a.prefix.length);
  const servers = new Map([...exact].map(([host, group]) => [host, byLongestPath(group)]));
  // ".example.com" suffixes, longest first.
  const suffixes = [...wildcards]
    .map(([suffix, group]) => ({ suffix, locations: byLongestPath(group) }))
    .sort((a, b) => b.suffix.length - a.suffix.length);
  const defaults = byLongestPath(anyHost);

  return function matchRoute(host, path) {
    const locations =
      servers.get(host) ??
      suffixes.find(({ suffix }) => host.length > suffix.length && host.endsWith(suffix))?.locations ??
      defaults;
    for (const { route, prefix } of locations) if (path.startsWith(prefix)) return route;
    return null;
  };
}

function getOrAdd<K, V>(map: Map<K, V[]>, key: K): V[] {
  let list = map.get(key);
  if (!list) {
    list = [];
    map.set(key, list);
  }
  return list;
}
