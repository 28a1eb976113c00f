import { extname } from 'node:path';

/**
 * Content-Type by file extension, one table for both fronts: the proxy reads it, and the nginx
 * renderer writes it into the static location as a `types {}` block with `charset_types`, so a
 * file gets the same Content-Type from either (nginx's own mime.types is not included by every
 * nginx.conf, and mime-db's thousand-odd entries differ from it in places — `.js`, `.xml`, fonts).
 * The common web types of nginx's mime.types, with charset=utf-8 on the text ones.
 */
const TYPES: ReadonlyArray<readonly [type: string, extensions: readonly string[], utf8: boolean]> = [
  ['text/html', ['html', 'htm'], true],
  ['text/css', ['css'], true],
  ['text/plain', ['txt', 'text', 'log'], true],
  ['text/xml', ['xml'], true],
  ['text/csv', ['csv'], true],
  ['text/markdown', ['md', 'markdown'], true],
  ['application/javascript', ['js', 'mjs'], true],
  ['application/json', ['json', 'map'], true],
  ['application/manifest+json', ['webmanifest'], true],
  ['image/svg+xml', ['svg', 'svgz'], false],
  ['image/png', ['png'], false],
  ['image/jpeg', ['jpg', 'jpeg'], false],
  ['image/gif', ['gif'], false],
  ['image/webp', ['webp'], false],
  ['image/avif', ['avif'], false],
  ['image/x-icon', ['ico'], false],
  ['font/woff', ['woff'], false],
  ['font/woff2', ['woff2'], false],
  ['font/ttf', ['ttf'], false],
  ['font/otf', ['otf'], false],
  ['application/pdf', ['pdf'], false],
  ['application/wasm', ['wasm'], false],
  ['application/zip', ['zip'], false],
  ['application/gzip', ['gz'], false],
  ['audio/mpeg', ['mp3'], false],
  ['audio/ogg', ['ogg'], false],
  ['video/mp4', ['mp4'], false],
  ['video/webm', ['webm'], false],
];

/** What a file of an unlisted extension is sent as (nginx `default_type`). */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

const BY_EXTENSION = new Map<string, string>(
  TYPES.flatMap(([type, extensions, utf8]) =>
    extensions.map((ext) => [ext, utf8 ? `${type}; charset=utf-8` : type] as const),
  ),
);

/** The Content-Type of a file by its name's extension (case-insensitive, as nginx compares). */
export function contentTypeOf(fileName: string): string {
  return BY_EXTENSION.get(extname(fileName).slice(1).toLowerCase()) ?? DEFAULT_CONTENT_TYPE;
}

/** The table as nginx's `types {}` wants it: each type with its extensions. */
export function contentTypeTable(): ReadonlyArray<{ type: string; extensions: readonly string[] }> {
  return TYPES.map(([type, extensions]) => ({ type, extensions }));
}

/** The types nginx adds `charset=utf-8` to (`charset_types`). */
export function utf8ContentTypes(): readonly string[] {
  return TYPES.filter(([, , utf8]) => utf8).map(([type]) => type);
}
