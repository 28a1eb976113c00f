import { isConfigObject } from './merge.js';
import { size } from './schema-refs.js';
import type { CompressionConfig } from './types.js';
import { parseSize } from './units.js';

/** A media type as gzip_types lists it ("text/css"), or "*" for every type. */
const MEDIA_TYPE = '^(\\*|[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*)$';

/**
 * `compression:` — proxied responses compressed at the front (nginx gzip, gzip_types,
 * gzip_min_length, gzip_comp_level). null turns it off, as `tls: null` does; an object is merged
 * over the embedded default's, so `compression: { level: 6 }` keeps the default types.
 */
export const compressionSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    types: { type: 'array', uniqueItems: true, items: { type: 'string', pattern: MEDIA_TYPE } },
    min_length: size,
    // gzip's levels; brotli takes the same number as its quality (its 10 and 11 are too slow on the fly).
    level: { type: 'integer', minimum: 1, maximum: 9 },
  },
} as const;

/** nginx compresses text/html whatever gzip_types says; so does the proxy. */
export const ALWAYS_COMPRESSED = 'text/html';

/** The section resolved: null (off), else lower-cased types (text/html always among them). */
export function resolveCompression(raw: unknown): CompressionConfig | null {
  if (!isConfigObject(raw)) return null;
  const listed = Array.isArray(raw.types) ? (raw.types as string[]) : [];
  const types = [...new Set([ALWAYS_COMPRESSED, ...listed.map((type) => type.toLowerCase())])];
  return {
    types,
    minLength: parseSize(raw.min_length ?? 0) ?? 0,
    level: (raw.level as number | undefined) ?? 5,
  };
}
