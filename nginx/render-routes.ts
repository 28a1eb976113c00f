import type { Config, RouteConfig } from '../config/index.js';
import { indent } from './indent.js';
import type { NginxTarget } from './render.js';
import { renderStaticLocation } from './render-static.js';
import { renderUpstreamBlock } from './render-upstream.js';

/** The parts of the proxy server block that render.ts owns and every route's server block repeats. */
export interface ServerParts {
  listen: string;
  /** Logs, trust, client limits, error_page lines. */
  server: (config: Config) => string[];
  /** A proxying location's directives for `pass` (`http://name` or `http://name/`). */
  proxy: (config: Config, compose: boolean, pass: string) => string[];
  errorPages: () => string[];
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

/**
 * Routes as nginx holds them: one `server` block per host (`server_name`, nginx picks exact, then
 * the longest leading wildcard, then the default server, as our matcher does), one `location`
 * per path prefix (the longest wins there too). Routes without a host go in the default server;
 * when there are none, the default server answers 404 to every unknown host, as ours does.
 */
export function renderRouteServers(config: Config, compose: boolean, parts: ServerParts): string[] {
  const byHost = new Map<string | null, RouteConfig[]>();
  for (const route of config.routes) {
    const list = byHost.get(route.host);
    if (list) list.push(route);
    else byHost.set(route.host, [route]);
  }
  const blocks: string[][] = [];
  if (!byHost.has(null)) {
    blocks.push([
      '# No route takes any host: an unknown host gets 404, as from our proxy.',
      'server {',
      ...indent([
        `listen ${parts.listen} default_server;`,
        'server_name _;',
        ...parts.server(config),
        '',
        'return 404;',
      ]),
      '}',
    ]);
  }
  for (const [host, routes] of byHost) {
    const listen = host === null ? `listen ${parts.listen} default_server;` : `listen ${parts.listen};`;
    const locations = routes.flatMap((route) => ['', ...renderLocation(config, compose, route, parts)]);
    blocks.push([
      `# Routes for ${host === null ? 'any host (the default server)' : host}.`,
      'server {',
      ...indent([
        listen,
        `server_name ${host ?? '_'};`,
        ...parts.server(config),
        ...locations,
        ...parts.errorPages(),
      ]),
      '}',
    ]);
  }
  return blocks.flatMap((block, i) => (i === 0 ? block : ['', ...block]));
}

/**
 * The routes' locations for a server block that takes every host (the TLS servers): only when no
 * route names a host (render.ts refuses the rest with tls); null without routes.
 */
export function renderHostlessLocations(
  config: Config,
  compose: boolean,
  parts: ServerParts,
): string[] | null {
  if (config.routes.length === 0) return null;
  return config.routes.flatMap((route, i) => [
    ...(i === 0 ? [] : ['']),
    ...renderLocation(config, compose, route, parts),
  ]);
}

function renderLocation(config: Config, compose: boolean, route: RouteConfig, parts: ServerParts): string[] {
  const target = route.target;
  const head = `location ${quoted(route.path)} {`;
  if (target.kind === 'pool') {
    const name = target.pool === 'default' ? 'gatehouse' : routeUpstreamName(route);
    const pass = `http://${name}${route.stripPrefix ? '/' : ''}`;
    return [`# Route ${route.name}.`, head, ...indent(parts.proxy(config, compose, pass)), '}'];
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
  return renderStaticLocation(route, target, head, compose);
}

/** A location prefix as nginx reads it: bare when plain, else in double quotes. */
function quoted(path: string): string {
  return /^[A-Za-z0-9/._~-]+$/.test(path) ? path : `"${path.replace(/["\\]/g, '\\$&')}"`;
}

function regexEscape(path: string): string {
  return path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
