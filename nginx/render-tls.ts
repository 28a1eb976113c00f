import { readFileSync } from 'node:fs';
import { certificateNames } from '../config/certificate-names.js';
import { type Address, type Config, formatAddress, type TlsConfig } from '../config/index.js';
import { acmeCertificateFiles } from '../proxy/tls/acme/storage.js';
import { NameTable } from '../proxy/tls/sni.js';
import { indent } from './indent.js';
import {
  proxyDirectives,
  REQUEST_ID_HEADER,
  renderProxyServer,
  routeServerParts,
  serverBody,
} from './render.js';
import { type RouteServer, renderRouteServer, renderRouteServers, routesByHost } from './render-routes.js';

/** What the tls section (config.tls) does not say about the nginx it is rendered for. */
export interface RenderTlsOptions {
  /**
   * The nginx version the config is for (`nginx -v`, see nginx-version.ts). Before 1.25.1 HTTP/2 is
   * a listen parameter (`listen 443 ssl http2;`); from 1.25.1 it is `http2 on;`, and the old form
   * only warns. Unknown: the old form, which every version accepts.
   */
  nginxVersion?: string | null;
  /**
   * Where gatehouse answers ACME HTTP-01 challenges (a process running AcmeManager, e.g. a
   * `gatehouse proxy` with the same tls.acme on another port) when nginx is the front. Unset:
   * challenges go to the upstream pool like any request (an app that answers them itself).
   */
  acmeResponder?: Address | null;
}

/** A certificate pair and the names nginx serves it for (server_name). */
interface Served {
  readonly cert: string;
  readonly key: string;
  readonly names: string[];
}

/** Whether `version` (1.25.1, nginx/1.22.1) has the `http2` directive. */
export function hasHttp2Directive(version: string | null | undefined): boolean {
  const match = /(\d+)\.(\d+)\.(\d+)/.exec(version ?? '');
  if (!match) return false;
  const [major, minor, patch] = match.slice(1).map(Number) as [number, number, number];
  return major > 1 || (major === 1 && (minor > 25 || (minor === 25 && patch >= 1)));
}

/**
 * Every pair nginx serves: the configured ones, named from their certificate files (read now: a
 * pair that cannot be read is an error, as `nginx -t` would say), then the one AcmeManager keeps
 * in storage, named from the domains it orders for (the file may not be there yet).
 */
function servedPairs(tls: TlsConfig): Served[] {
  const configured = tls.certificates.map(({ cert, key }) => ({
    cert,
    key,
    names: certificateNames(readFileSync(cert)),
  }));
  const acme = tls.acme ? [{ ...acmeCertificateFiles(tls.acme.storage), names: [...tls.acme.domains] }] : [];
  return [...configured, ...acme];
}

function httpsPort(tls: TlsConfig): string {
  return tls.listen.port === 443 ? '' : `:${tls.listen.port}`;
}

/** Whether nginx gives a request for `name` to the server block of route host `host` (exact or leading wildcard). */
function hostTakes(host: string, name: string): boolean {
  return host === name || (host.startsWith('*.') && name.endsWith(host.slice(1)));
}

/**
 * The proxy's servers when a tls section is given: the plain server (redirecting to https when
 * redirect_http is set, but for ACME challenges and /healthz), then the TLS servers: one per
 * certificate with the whole proxy body, or with routes the route servers (render-routes.ts). The
 * first certificate's server is the default (no SNI, unknown name).
 */
export function renderTlsServers(
  config: Config,
  tls: TlsConfig,
  compose: boolean,
  options: RenderTlsOptions,
): string[] {
  const plainListen = compose ? String(config.listen.port) : formatAddress(config.listen);
  const tlsListen = compose ? String(tls.listen.port) : formatAddress(tls.listen);
  const http2Directive = hasHttp2Directive(options.nginxVersion);
  const protocols = tls.minVersion === 'TLSv1.3' ? 'TLSv1.3' : 'TLSv1.2 TLSv1.3';
  const challengeTarget = options.acmeResponder
    ? `http://${formatAddress(options.acmeResponder)}`
    : undefined;
  const pass = (target?: string) => indent(proxyDirectives(config, compose, target));
  const plainLocations = [
    '# ACME HTTP-01 challenges and health checks stay on plain HTTP.',
    'location ^~ /.well-known/acme-challenge/ {',
    ...pass(challengeTarget),
    '}',
    '',
    'location = /healthz {',
    ...pass(),
    '}',
    '',
    'location / {',
    ...indent([`return 308 https://$host${httpsPort(tls)}$request_uri;`]),
    '}',
  ];
  const plain = tls.redirectHttp
    ? ['server {', ...indent([`listen ${plainListen};`, ...serverBody(config, compose, plainLocations)]), '}']
    : renderProxyServer(config, compose);
  const listen = (isDefault: boolean) => [
    `listen ${tlsListen} ssl${tls.http2 && !http2Directive ? ' http2' : ''}${isDefault ? ' default_server' : ''};`,
    ...(tls.http2 && http2Directive ? ['http2 on;'] : []),
  ];
  const hsts = tls.hsts > 0 ? [`add_header Strict-Transport-Security "max-age=${tls.hsts}" always;`] : [];
  // Every add_header of a TLS server: a location with one of its own says them all again.
  const serverHeaders = [REQUEST_ID_HEADER, ...hsts];
  const certificate = (pair: Served) => [
    `ssl_certificate ${pair.cert};`,
    `ssl_certificate_key ${pair.key};`,
    `ssl_protocols ${protocols};`,
    ...hsts,
  ];
  const pairs = new NameTable(servedPairs(tls));
  if (config.routes.length > 0)
    return [
      ...plain,
      '',
      ...renderTlsRouteServers(config, compose, pairs, listen, certificate, serverHeaders),
    ];
  const servers = pairs.entries.flatMap((pair, i) => [
    '',
    `# TLS for ${pair.names.join(', ')}${i === 0 ? ' (the default: no SNI, or a name no certificate has)' : ''}.`,
    'server {',
    ...indent([
      ...listen(i === 0),
      `server_name ${pair.names.join(' ')};`,
      ...certificate(pair),
      ...serverBody(config, compose, undefined, serverHeaders),
    ]),
    '}',
  ]);
  return [...plain, ...servers];
}

/**
 * Routes over TLS: the route servers of the plain listener, each with the certificate our proxy's
 * SNI pick gives its host (the default server: the first). A certificate name that no route host
 * takes gets a server of its own holding the default server's routes, so that nginx serves that
 * certificate for it (it picks the certificate by server_name), as our proxy does.
 */
function renderTlsRouteServers(
  config: Config,
  compose: boolean,
  pairs: NameTable<Served>,
  listen: (isDefault: boolean) => string[],
  certificate: (pair: Served) => string[],
  serverHeaders: string[],
): string[] {
  const parts = routeServerParts(
    (host) => [...listen(host === null), ...certificate(pairs.pick(host))],
    serverHeaders,
  );
  const byHost = routesByHost(config);
  const hosts = [...byHost.keys()].filter((host): host is string => host !== null);
  const defaultRoutes = byHost.get(null) ?? [];
  const ownServers = pairs.entries.flatMap((pair) => {
    const names = pair.names.filter((name) => !hosts.some((host) => hostTakes(host, name)));
    if (names.length === 0) return [];
    const server: RouteServer = {
      comment: `TLS for ${names.join(', ')}: no route host of its own, so the default server's routes.`,
      head: [...listen(false), ...certificate(pair)],
      names: names.join(' '),
      routes: defaultRoutes,
    };
    return ['', ...renderRouteServer(config, compose, parts, server)];
  });
  return [...renderRouteServers(config, compose, parts), ...ownServers];
}
