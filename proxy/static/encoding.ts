import type { IncomingHttpHeaders } from 'node:http';

/** A precompressed sibling of a file: `site.css.br`, `site.css.gz`. */
export interface Precompressed {
  /** The Content-Encoding it is sent with. */
  encoding: 'br' | 'gzip';
  /** What is appended to the file's name. */
  suffix: '.br' | '.gz';
}

/**
 * The siblings looked for, best first at equal preference. nginx open source serves only `.gz`
 * (gzip_static); brotli_static is a third-party module, so there a `.br` is never sent.
 */
export const PRECOMPRESSED: readonly Precompressed[] = [
  { encoding: 'br', suffix: '.br' },
  { encoding: 'gzip', suffix: '.gz' },
];

/**
 * The encodings the client takes, best first (RFC 9110 §12.5.3 q-values; q=0 refuses). As nginx's
 * gzip_static does, only the encoding's own name counts, not `*`; and an HTTP/1.0 client gets none
 * (nginx `gzip_http_version 1.1`, its default).
 */
export function acceptedEncodings(headers: IncomingHttpHeaders, httpVersion: string): Precompressed[] {
  const header = headers['accept-encoding'];
  if (header === undefined || httpVersion === '1.0') return [];
  const quality = new Map<string, number>();
  for (const part of header.split(',')) {
    const [name = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    const value = q === undefined ? 1 : Number(q.slice(2));
    if (name !== '' && Number.isFinite(value)) quality.set(name, value);
  }
  return PRECOMPRESSED.filter((p) => (quality.get(p.encoding) ?? 0) > 0).sort(
    (a, b) => (quality.get(b.encoding) ?? 0) - (quality.get(a.encoding) ?? 0),
  );
}
