import { isAbsolute, relative } from 'node:path';
import { type Config, formatAddress, formatDuration, formatSize, packageRoot } from '../config/index.js';
import { indent } from './indent.js';
import { renderBuffering } from './render-buffering.js';
import { renderCompression } from './render-compression.js';
import { renderLimitReq, renderLimitZones, SINGLE_POOL_ROUTE } from './render-limits.js';
import { renderMaps } from './render-maps.js';
import { renderRouteServers, renderRouteUpstreams, type ServerParts } from './render-routes.js';
import { type RenderTlsOptions, renderTlsServers } from './render-tls.js';
import { renderUpstream } from './render-upstream.js';

export type NginxTarget = 'host' | 'compose';

/** With config.tls (render-tls.ts): TLS servers beside the plain one, which then redirects. */
export interface RenderOptions extends RenderTlsOptions {
  target: NginxTarget;
  /** The file the render is written to, named in the header comment's command. */
  out?: string;
  /** The pool is the workers pm2 ran when rendered (`--from-pm2`), not the config's. */
  fromPm2?: boolean;
}

/** Private ranges a compose network uses: who may read stub_status inside compose. */
const PRIVATE_RANGES = ['127.0.0.1', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];

const ERROR_PAGES: ReadonlyArray<[number, string]> = [
  [413, 'Request body too large'],
  [502, 'Bad gateway: no worker could answer'],
  [504, 'Gateway timeout: the worker was too slow'],
];

/**
 * The http-context snippet nginx needs to stand where our proxy stands (what goes in
 * /etc/nginx/conf.d/gatehouse.conf): the upstream pool, the header rules of the behaviour
 * contract, timeouts, limits, retries, realip and stub_status. Pure: same config, same text.
 */
export function renderNginx(config: Config, options: RenderOptions): string {
  const { target } = options;
  const compose = target === 'compose';
  const lines: string[] = [
    ...renderHeader(config, options),
    '',
    ...renderUpstream(config, target),
    '',
    ...renderRouteUpstreams(config, target),
    ...renderMaps(config),
    '',
    ...renderLimitZones(config),
    ...renderLogFormat(config),
    ...(config.tls
      ? renderTlsServers(config, config.tls, compose, options)
      : renderProxyServer(config, compose)),
    '',
    ...renderStatusServer(config, compose),
  ];
  return `${lines.join('\n')}\n`;
}

/** The command that renders this config to this target, as a user would type it. */
export function renderCommand(config: Config, options: RenderOptions): string {
  const parts = ['npx gatehouse nginx'];
  if (config.source) parts.push(`--config ${displayPath(config.source)}`);
  parts.push(`--target ${options.target}`);
  if (options.fromPm2) parts.push('--from-pm2');
  if (options.out) parts.push(`--out ${displayPath(options.out)}`);
  return parts.join(' ');
}

function displayPath(path: string): string {
  if (!isAbsolute(path)) return path;
  const inside = relative(packageRoot, path);
  return inside.startsWith('..') || isAbsolute(inside) ? path : inside;
}

function renderHeader(config: Config, options: RenderOptions): string[] {
  const where =
    options.target === 'compose'
      ? 'the nginx:stable container of the compose stack, as /etc/nginx/conf.d/default.conf'
      : '/etc/nginx/conf.d/gatehouse.conf (the stock nginx.conf includes conf.d/*.conf inside http {})';
  return [
    `# gatehouse — nginx ${options.target} config, rendered from ${config.source ? displayPath(config.source) : 'the default config'}.`,
    `# Rendered by: ${renderCommand(config, options)}`,
    '# Do not edit; re-render. The config file is the one source for our proxy, pm2 and this file.',
    ...(options.fromPm2
      ? ['# The servers are the workers pm2 ran when this was rendered: after `pm2 scale`, render again.']
      : []),
    `# Goes in ${where};`,
    '# check it with nginx -t, apply it with nginx -s reload.',
  ];
}

function renderLogFormat(config: Config): string[] {
  if (config.accessLog.format !== 'json') return [];
  // The fields of our proxy's JSON access log (proxy/access-log.ts); escape=json keeps each string valid JSON.
  const fields = [
    '"time":"$time_iso8601"',
    '"remote_addr":"$remote_addr"',
    '"request_id":"$gatehouse_request_id"',
    '"method":"$request_method"',
    '"uri":"$request_uri"',
    '"protocol":"$server_protocol"',
    '"status":$status',
    '"body_bytes_sent":$body_bytes_sent',
    '"referer":"$http_referer"',
    '"user_agent":"$http_user_agent"',
    '"upstream":"$upstream_addr"',
    '"request_time":$request_time',
    // A string: after a retry nginx lists one time per attempt ("0.001, 0.004").
    '"upstream_response_time":"$upstream_response_time"',
  ];
  return [`log_format gatehouse_json escape=json '{${fields.join(',')}}';`, ''];
}

function renderAccessLog(config: Config): string {
  const { path, format } = config.accessLog;
  if (path === 'off') return 'access_log off;';
  // The nginx image links /var/log/nginx/access.log to its stdout; on a host, a daemonised nginx has
  // no stdout, so "stdout" means nginx's own access log there.
  const file = path === 'stdout' ? '/var/log/nginx/access.log' : path;
  return `access_log ${file} ${format === 'json' ? 'gatehouse_json' : 'combined'};`;
}

export function renderProxyServer(config: Config, compose: boolean): string[] {
  const listen = listenOf(config, compose);
  if (config.routes.length > 0)
    return renderRouteServers(
      config,
      compose,
      routeServerParts((host) => [`listen ${listen}${host === null ? ' default_server' : ''};`]),
    );
  return ['server {', ...indent([`listen ${listen};`, ...serverBody(config, compose)]), '}'];
}

/**
 * The server's own add_header line (the request id back to the client). A location with an
 * add_header of its own inherits none of the server's, so such a location repeats these and any
 * the TLS server adds (HSTS): see `headers` in ServerParts.
 */
export const REQUEST_ID_HEADER = 'add_header X-Request-Id $gatehouse_request_id always;';

/**
 * What render-routes.ts needs from here to write route servers opened by `head` (plain or TLS);
 * `headers`: every add_header line at server level (the TLS servers add HSTS to the request id).
 */
export function routeServerParts(head: ServerParts['head'], headers = [REQUEST_ID_HEADER]): ServerParts {
  return { head, headers, server: serverDirectives, proxy: proxyDirectives, errorPages: errorPageLocations };
}

function listenOf(config: Config, compose: boolean): string {
  return compose ? String(config.listen.port) : formatAddress(config.listen);
}

/**
 * A whole server block's directives after its listen line (render-tls.ts: the plain server and each
 * TLS server). `locations` replaces `location /` (the plain server of a redirecting TLS setup has its own).
 * `headers`: the server's add_header lines, for a location that has its own (see REQUEST_ID_HEADER).
 */
export function serverBody(
  config: Config,
  compose: boolean,
  locations?: string[],
  headers = [REQUEST_ID_HEADER],
): string[] {
  return [
    ...serverDirectives(config),
    '',
    ...(locations ?? [
      'location / {',
      ...indent([
        ...renderLimitReq(config, SINGLE_POOL_ROUTE, undefined, headers),
        ...proxyDirectives(config, compose),
      ]),
      '}',
    ]),
    ...errorPageLocations(),
  ];
}

/** What every server block of the proxy listener says, whatever its locations: logs, trust, client limits, error pages. */
function serverDirectives(config: Config): string[] {
  const { timeouts } = config;
  const realip =
    config.trustedProxies.length === 0
      ? ['# No trusted proxies: X-Forwarded-For, X-Real-IP and X-Request-Id from clients are not believed.']
      : [
          '# Trusted proxies (realip): the client address is the right-most untrusted X-Forwarded-For entry.',
          ...config.trustedProxies.map((cidr) => `set_real_ip_from ${cidr};`),
          'real_ip_header X-Forwarded-For;',
          'real_ip_recursive on;',
        ];
  return [
    renderAccessLog(config),
    '',
    ...realip,
    '',
    '# Client side: limits and timeouts.',
    `client_max_body_size ${formatSize(config.clientMaxBodySize)};`,
    '# One large buffer: the whole request head (past the first 1k) must fit in it, so the limit is about',
    '# client_max_header_size as in our proxy (nginx answers 400 where ours answers 431).',
    `large_client_header_buffers 1 ${formatSize(config.clientMaxHeaderSize)};`,
    `client_header_timeout ${formatDuration(timeouts.clientHeader)};`,
    `client_body_timeout ${formatDuration(timeouts.clientBody)};`,
    `keepalive_timeout ${formatDuration(timeouts.clientKeepalive)};`,
    ...renderCompression(config),
    '',
    '# The request id goes back to the client, on error pages too.',
    'proxy_hide_header X-Request-Id;',
    REQUEST_ID_HEADER,
    '',
    ...ERROR_PAGES.map(([status]) => `error_page ${status} @gatehouse_${status};`),
  ];
}

/** A location that proxies to `pass` (a trailing "/" strips the location's prefix, as nginx does). */
export function proxyDirectives(config: Config, compose: boolean, pass = 'http://gatehouse'): string[] {
  const { timeouts, retries } = config;
  const nextUpstream = retries.nextUpstream.length > 0 ? retries.nextUpstream.join(' ') : 'off';
  return [
    `proxy_pass ${pass};`,
    '# HTTP/1.1 with an empty Connection header keeps upstream connections alive for reuse.',
    'proxy_http_version 1.1;',
    '',
    '# The behaviour contract: what a worker may trust.',
    'proxy_set_header Host $gatehouse_host;',
    'proxy_set_header X-Real-IP $remote_addr;',
    'proxy_set_header X-Forwarded-For $gatehouse_forwarded_for;',
    'proxy_set_header X-Forwarded-Proto $gatehouse_forwarded_proto;',
    'proxy_set_header X-Request-Id $gatehouse_request_id;',
    '',
    '# Hop-by-hop headers are not forwarded; Upgrade only for a WebSocket handshake (never h2c).',
    '# nginx already drops Keep-Alive, TE and Expect; it cannot drop headers named in Connection.',
    'proxy_set_header Connection $gatehouse_connection;',
    'proxy_set_header Upgrade $gatehouse_upgrade;',
    'proxy_set_header Proxy-Connection "";',
    'proxy_set_header Proxy-Authorization "";',
    'proxy_set_header Trailer "";',
    'proxy_hide_header Proxy-Authenticate;',
    '',
    '# Upstream timeouts. nginx applies read/send to WebSocket tunnels too: it has no',
    `# separate idle timeout (our proxy closes an idle tunnel after ${formatDuration(timeouts.websocketIdle)}).`,
    `proxy_connect_timeout ${formatDuration(timeouts.connect)};`,
    `proxy_read_timeout ${formatDuration(timeouts.read)};`,
    `proxy_send_timeout ${formatDuration(timeouts.send)};`,
    '',
    '# Retries: without non_idempotent, a POST/PATCH/LOCK that reached a worker is never re-sent.',
    `proxy_next_upstream ${nextUpstream};`,
    `proxy_next_upstream_tries ${retries.tries};`,
    '',
    ...renderBuffering(config, compose ? 'compose' : 'host'),
  ];
}

/** The named locations every server block's error_page lines point at. */
function errorPageLocations(): string[] {
  return ERROR_PAGES.flatMap(([status, text]) => [
    '',
    `location @gatehouse_${status} {`,
    ...indent(['default_type text/html;', `return ${status} '${errorPage(status, text)}';`]),
    '}',
  ]);
}

function errorPage(status: number, text: string): string {
  return `<!doctype html><title>${status}</title><h1>${status}</h1><p>${text}.</p>\\n`;
}

/**
 * status.token on top of allow/deny, as our status listener asks for it. The token is written into
 * the rendered file: keep that file as private as the token. Its characters (RFC 6750 b64token,
 * checked by the schema) need no escaping in an nginx string.
 */
function tokenCheck(token: string | null): string[] {
  if (token === null) return [];
  return [
    `if ($http_authorization != "Bearer ${token}") {`,
    ...indent(['add_header WWW-Authenticate Bearer always;', 'return 401;']),
    '}',
  ];
}

function renderStatusServer(config: Config, compose: boolean): string[] {
  const listen = compose ? String(config.status.listen.port) : formatAddress(config.status.listen);
  const allowed = compose ? PRIVATE_RANGES : ['127.0.0.1', '::1'];
  return [
    '# The status listener: nginx open source has only stub_status (no per-upstream state, no metrics).',
    'server {',
    ...indent([
      `listen ${listen};`,
      'access_log off;',
      '',
      'location = /status {',
      ...indent([
        ...tokenCheck(config.status.token),
        'stub_status;',
        ...allowed.map((a) => `allow ${a};`),
        'deny all;',
      ]),
      '}',
      '',
      'location / {',
      ...indent(['return 404;']),
      '}',
    ]),
    '}',
  ];
}
