import { isAbsolute, posix, relative, sep } from 'node:path';
import { packageRoot, type RouteConfig, type RouteStaticTarget } from '../config/index.js';
import { contentTypeTable, DEFAULT_CONTENT_TYPE, utf8ContentTypes } from '../proxy/static/content-type.js';
import { indent } from './indent.js';

/**
 * A static route as an nginx location, set up to answer as our proxy's file server does
 * (proxy/static/): `root` (or `alias` when the route strips its prefix), the same Content-Type
 * table, precompressed `.gz` siblings with Vary, one range at most, `expires`, relative redirects,
 * and a directory answered by its index.html or 404 (nginx alone would answer 403 there).
 * `head` is the location line (`location /static/ {`); `compose`: the path in the nginx container;
 * `serverHeaders`: the server's add_header lines, said again when this location has one of its own.
 */
export function renderStaticLocation(
  route: RouteConfig,
  target: RouteStaticTarget,
  head: string,
  compose: boolean,
  serverHeaders: readonly string[],
): string[] {
  const root = compose ? composeRoot(target.root) : target.root;
  const folder = route.stripPrefix ? `alias ${quote(withSlash(root))};` : `root ${quote(root)};`;
  const cache: string[] = [];
  if (target.expires !== null) cache.push(`expires ${Math.round(target.expires / 1000)}s;`);
  if (target.immutable)
    cache.push(
      'add_header Cache-Control immutable;',
      "# A location with add_header of its own inherits none from the server's: those again.",
      ...serverHeaders,
    );
  return [
    `# Route ${route.name}: files from ${root}.`,
    head,
    ...indent([
      folder,
      '# Symlinks are not followed past the root (our proxy follows those that stay inside it).',
      'disable_symlinks on from=$document_root;',
      '# Precompressed siblings: file.gz when the client takes gzip (our proxy also serves file.br;',
      '# nginx open source has no brotli_static).',
      'gzip_static on;',
      'gzip_vary on;',
      'gzip_proxied any;',
      '# Several ranges get the whole file (our proxy sends no multipart/byteranges).',
      'max_ranges 1;',
      '# A directory without its slash: 301 to it, relative as our proxy sends it.',
      'absolute_redirect off;',
      ...cache,
      ...renderTypes(),
      '',
      '# A directory: its index.html, else 404 (no listings).',
      'location ~ /$ {',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's own ${var} syntax, not a template
      ...indent(['try_files ${uri}index.html =404;']),
      '}',
    ]),
    '}',
  ];
}

/** The proxy's Content-Type table (proxy/static/content-type.ts), so both fronts send the same. */
function renderTypes(): string[] {
  return [
    'types {',
    ...indent(contentTypeTable().map(({ type, extensions }) => `${type} ${extensions.join(' ')};`)),
    '}',
    `default_type ${DEFAULT_CONTENT_TYPE};`,
    'charset utf-8;',
    `charset_types ${utf8ContentTypes().join(' ')};`,
  ];
}

/**
 * Where a root inside the project is in the compose stack's nginx container: docker-compose.yml
 * mounts the project's static folders under /srv/gatehouse, at the same relative path. A root
 * outside the project is left as it is (mount it there yourself).
 */
export const COMPOSE_PROJECT_DIR = '/srv/gatehouse';

function composeRoot(root: string): string {
  const inside = relative(packageRoot, root);
  if (inside.startsWith('..') || isAbsolute(inside)) return root;
  return posix.join(COMPOSE_PROJECT_DIR, ...inside.split(sep));
}

function withSlash(path: string): string {
  return path.endsWith('/') ? path : `${path}/`;
}

/** A path as an nginx argument: bare when plain, else in double quotes. */
function quote(path: string): string {
  return /^[A-Za-z0-9/._~+-]+$/.test(path) ? path : `"${path.replace(/["\\$]/g, '\\$&')}"`;
}
