import type { CompressionConfig } from '../../config/index.js';
import { type Coding, negotiateCoding } from './negotiate.js';

/** What the decision needs of the client's request. */
export interface CompressionRequest {
  method: string | undefined;
  /** "1.0", "1.1", "2.0". */
  httpVersion: string;
  acceptEncoding: string | undefined;
  /** The request asked for a range: the worker's answer goes as it is. */
  range: boolean;
}

export interface CompressionPlan {
  /** The coding the body is compressed with; null = the body goes as it is. */
  coding: Coding | null;
  /** The answer depends on Accept-Encoding: Vary says so (to caches), compressed or not. */
  vary: boolean;
}

const AS_IS: CompressionPlan = Object.freeze({ coding: null, vary: false });

/** Statuses nginx's gzip filter compresses; never 204, 206, 304 or a redirect. */
const COMPRESSED_STATUSES = new Set([200, 403, 404]);

/**
 * Whether a proxied response is compressed, in nginx's order: first whether the response is one
 * that compression applies to at all (a body, a status nginx compresses, not already encoded, of
 * a listed type, not shorter than min_length by its Content-Length — a chunked one is) — such an
 * answer varies by Accept-Encoding, so it gets Vary whether or not this client is given a coding;
 * then whether this request gets one (no Range, HTTP/1.1 or later as nginx's gzip_http_version,
 * a coding the client accepts). Cache-Control: no-transform leaves the response untouched
 * (RFC 9110 §7.7; nginx does not look at it). A HEAD is decided as its GET would be: its head
 * says what a GET would get (RFC 9110 §9.3.2; nginx too), and no body is made (exchange.ts).
 * Reads the flat [name, value, ...] head.
 */
export function decideCompression(
  config: CompressionConfig | null,
  request: CompressionRequest,
  status: number,
  headers: readonly string[],
): CompressionPlan {
  if (config === null || !COMPRESSED_STATUSES.has(status)) return AS_IS;
  let type: string | undefined;
  let length: number | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const value = headers[i + 1]!;
    if (name === 'content-encoding' && value.trim() !== '') return AS_IS;
    if (name === 'cache-control' && /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(value)) return AS_IS;
    if (name === 'content-type') type ??= value.split(';')[0]!.trim().toLowerCase();
    else if (name === 'content-length') length ??= Number(value);
  }
  if (type === undefined || !typeListed(config.types, type)) return AS_IS;
  if (length !== undefined && length < config.minLength) return AS_IS;
  if (request.range || request.httpVersion === '1.0') return { coding: null, vary: true };
  return { coding: negotiateCoding(request.acceptEncoding), vary: true };
}

function typeListed(types: readonly string[], type: string): boolean {
  return types.includes(type) || types.includes('*');
}
