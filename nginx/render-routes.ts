import type { Config, RouteConfig } from '../config/index.js';
import { indent } from './indent.js';
import type { NginxTarget } from './render.js';
import { renderLimitReq } from './render-limits.js';
import { renderStaticLocation } from './render-static.js';
import { renderUpstreamBlock } from './render-upstream.js';

/** The parts of the proxy server block that render.ts owns and every route's server block repeats. */
export interface ServerParts {
  /**
   * The lines that open the server block for `host` (null: the default server): its listen line
   * (`default_server` on the default one) and, on a TLS listener, the certificate nginx serves it with.
   */
  head: (host: string | null) => string[];
  /** The server's add_header lines: a location with an add_header of its own says them again. */
  headers: readonly string[];
  /** Logs, trust, client limits, error_page lines. */
  server: (config: Config) => string[];
  /** A proxying location's directives for `pass` (`http://name` or `http://name/`). */
  proxy: (config: Config, compose: boolean, pass: string) => string[];
  errorPages: () => string[];
}

/** One server block of the route table, as renderRouteServer writes it. */
export interface RouteServer {
  comment: string;
  head: string[];
  /** Its server_name: a host, several names, or `_`. */
  names: string;
  /** The routes it holds; none: it answers 404 to everything, as our proxy does for an unknown host. */
  routes: readonly RouteConfig[];
}

/** The nginx upstream name of a route's own pool: its name, with what a host name cannot hold made "_". */
export function routeUpstreamName(route: RouteConfig): string {
  return `gatehouse_${route.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** One upstream block per route with a pool of its own (the top-level pool's block is render-upstream's). */
export function renderRouteUpstreams(config: Config, target: NginxTarget): string[] {
  return config.routes.flatMap((route) => {
    const t = route.target;
    if (t.kind !== 'pool' || t.pool !== 'own') return [];
    return [
      `# The pool of route ${route.name}.`,
      ...renderUpstreamBlock(t.upstream, routeUpstreamName(route), target, false),
      '',
    ];
  });
}

/** The routes grouped by host, in config order (null: routes that take any host). */
export function routesByHost(config: Config): Map<string | null, RouteConfig[]> {
  const byHost = new Map<string | null, RouteConfig[]>();
  for (const route of config.routes) {
    const list = byHost.get(route.host);
    if (list) list.push(route);
    else byHost.set(route.host, [route]);
  }
  return byHost;
}

/**
 * Routes as nginx holds them: one `server` block per host (`server_name`, nginx picks exact, then
 * the longest leading wildcard, then the default server, as our matcher does), one `location`
 * per path prefix (the longest wins there too). Routes without a host go in the default server;
 * when there are none, the default server answers 404 to every unknown host, as ours does.
 * `parts.head` writes each block's listen lines, so the plain and the TLS listener share this.
 */
export function renderRouteServers(config: Config, compose: boolean, parts: ServerParts): string[] {
  const byHost = routesByHost(config);
  const servers: RouteServer[] = [];
  if (!byHost.has(null))
    servers.push({
      comment: 'No route takes any host: an unknown host gets 404, as from our proxy.',
      head: parts.head(null),
      names: '_',
      routes: [],
    });
  for (const [host, routes] of byHost)
    servers.push({
      comment: `Routes for ${host === null ? 'any host (the default server)' : host}.`,
      head: parts.head(host),
      names: host ?? '_',
      routes,
    });
  return servers.flatMap((server, i) => [
    ...(i === 0 ? [] : ['']),
    ...renderRouteServer(config, compose, parts, server),
  ]);
}

/** One server block: its head, server_name, then a location per route (or `return 404;` without routes). */
export function renderRouteServer(
  config: Config,
  compose: boolean,
  parts: ServerParts,
  server: RouteServer,
): string[] {
  const body =
    server.routes.length === 0
      ? ['', 'return 404;']
      : [
          ...server.routes.flatMap((route) => ['', ...renderLocation(config, compose, route, parts)]),
          ...parts.errorPages(),
        ];
  return [
    `# ${server.comment}`,
    'server {',
    ...indent([...server.head, `server_name ${server.names};`, ...parts.server(config), ...body]),
    '}',
  ];
}

function renderLocation(config: Config, compose: boolean, route: RouteConfig, parts: ServerParts): string[] {
  const target = route.target;
  const head = `location ${quoted(route.path)} {`;
  if (target.kind === 'pool') {
    const name = target.pool === 'default' ? 'gatehouse' : routeUpstreamName(route);
    const pass = `http://${name}${route.stripPrefix ? '/' : ''}`;
    const limit = renderLimitReq(config, route.name, route.limits, parts.headers);
    return [
      `# Route ${route.name}.`,
      head,
      ...indent([...limit, ...parts.proxy(config, compose, pass)]),
      '}',
    ];
  }
  if (target.kind === 'redirect') {
    const to = target.to.endsWith('/') ? target.to.slice(0, -1) : target.to;
    const body = route.stripPrefix
      ? [
          // The rest of the path after the prefix, as our proxy appends it to `to`.
          `location ~ ^${regexEscape(route.path)}(?<gatehouse_rest>.*)$ {`,
          ...indent([`return ${target.status} ${to}/$gatehouse_rest$is_args$args;`]),
          '}',
        ]
      : [`return ${target.status} ${to}$request_uri;`];
    // A path in `to` stays a relative Location, as our proxy sends it (nginx would make it absolute).
    const relative = to === '' || to.startsWith('/') ? ['absolute_redirect off;'] : [];
    return [`# Route ${route.name}: a redirect.`, head, ...indent([...relative, ...body]), '}'];
  }
  return renderStaticLocation(route, target, head, compose, parts.headers);
}

/** A location prefix as nginx reads it: bare when plain, else in double quotes. */
function quoted(path: string): string {
  return /^[A-Za-z0-9/._~-]+$/.test(path) ? path : `"${path.replace(/["\\]/g, '\\$&')}"`;
}

function regexEscape(path: string): string {
  return path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
