import { ALWAYS_COMPRESSED } from '../config/compression.js';
import type { Config } from '../config/index.js';
import { nginxSize } from './render-buffering.js';

/**
 * The server-level gzip directives for config.compression. In a server block, not the http
 * context the snippet is included in: Debian's stock nginx.conf already says `gzip on;` there, and
 * a second one in the same context fails nginx -t. So `compression: null` renders `gzip off;`,
 * or Debian's http-level gzip would still compress text/html.
 */
export function renderCompression(config: Config): string[] {
  const compression = config.compression;
  if (compression === null) return ['', '# Compression off (compression: null).', 'gzip off;'];
  // nginx always compresses text/html and warns when gzip_types lists it again.
  const types = compression.types.filter((type) => type !== ALWAYS_COMPRESSED);
  return [
    '',
    '# Compression: gzip only (brotli is not in nginx open source; our proxy offers br as well).',
    '# gzip_proxied any: without it nginx leaves requests that came through another proxy (Via) as they are.',
    'gzip on;',
    ...(types.length > 0 ? [`gzip_types ${types.join(' ')};`] : []),
    `gzip_min_length ${nginxSize(compression.minLength)};`,
    `gzip_comp_level ${compression.level};`,
    'gzip_vary on;',
    'gzip_proxied any;',
  ];
}
