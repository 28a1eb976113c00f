import { readFileSync } from 'node:fs';
import { certificateNames } from '../config/certificate-names.js';
import { type Address, type Config, formatAddress, type TlsConfig } from '../config/index.js';
import { acmeCertificateFiles } from '../proxy/tls/acme/storage.js';
import { indent } from './indent.js';
import { proxyDirectives, serverBody } from './render.js';

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
  cert: string;
  key: string;
  names: string[];
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

/**
 * The proxy's servers when a tls section is given: the plain server (redirecting to https when
 * redirect_http is set, but for ACME challenges and /healthz), then one TLS server per certificate,
 * each with the whole proxy body. The first certificate's server is the default (no SNI, unknown name).
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
  const plain = [
    'server {',
    ...indent([
      `listen ${plainListen};`,
      ...serverBody(config, compose, tls.redirectHttp ? plainLocations : undefined),
    ]),
    '}',
  ];
  const servers = servedPairs(tls).flatMap((pair, i) => [
    '',
    `# TLS for ${pair.names.join(', ')}${i === 0 ? ' (the default: no SNI, or a name no certificate has)' : ''}.`,
    'server {',
    ...indent([
      `listen ${tlsListen} ssl${tls.http2 && !http2Directive ? ' http2' : ''}${i === 0 ? ' default_server' : ''};`,
      ...(tls.http2 && http2Directive ? ['http2 on;'] : []),
      `server_name ${pair.names.join(' ')};`,
      `ssl_certificate ${pair.cert};`,
      `ssl_certificate_key ${pair.key};`,
      `ssl_protocols ${protocols};`,
      ...(tls.hsts > 0 ? [`add_header Strict-Transport-Security "max-age=${tls.hsts}" always;`] : []),
      ...serverBody(config, compose),
    ]),
    '}',
  ]);
  return [...plain, ...servers];
}
