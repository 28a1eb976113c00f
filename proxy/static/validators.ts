import type { IncomingHttpHeaders } from 'node:http';

/** What a file is validated by: its size and its modification time in whole seconds (as HTTP dates carry). */
export interface FileVersion {
  size: number;
  mtimeSeconds: number;
}

/** nginx's ETag for a static file: mtime and size in hex, strong (`"65f1c2a0-4000"`). */
export function etagOf(file: FileVersion): string {
  return `"${file.mtimeSeconds.toString(16)}-${file.size.toString(16)}"`;
}

export function lastModifiedOf(file: FileVersion): string {
  return new Date(file.mtimeSeconds * 1000).toUTCString();
}

/**
 * The answer the request's conditional headers call for, as nginx's not_modified filter decides it:
 * If-Unmodified-Since / If-Match failing → 412; else, when If-Modified-Since or If-None-Match is
 * present, 304 only if every one present says "not modified" (nginx checks both, where RFC 9110
 * lets If-None-Match win). If-Modified-Since compares exactly (nginx's default
 * `if_modified_since exact`): a date other than the file's is a 200, later ones too.
 */
export function conditionalStatus(headers: IncomingHttpHeaders, file: FileVersion): 200 | 304 | 412 {
  const etag = etagOf(file);
  const unmodifiedSince = headers['if-unmodified-since'];
  if (unmodifiedSince !== undefined) {
    const since = parseHttpDate(unmodifiedSince);
    if (since !== null && file.mtimeSeconds > since) return 412;
  }
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined && !matchesAny(ifMatch, etag, false)) return 412;
  const modifiedSince = headers['if-modified-since'];
  const noneMatch = headers['if-none-match'];
  if (modifiedSince === undefined && noneMatch === undefined) return 200;
  if (modifiedSince !== undefined && parseHttpDate(modifiedSince) !== file.mtimeSeconds) return 200;
  if (noneMatch !== undefined && !matchesAny(noneMatch, etag, true)) return 200;
  return 304;
}

/** If-Range: the range applies only while the file is the one the client has (strong ETag or exact date). */
export function ifRangeHolds(headers: IncomingHttpHeaders, file: FileVersion): boolean {
  const raw = headers['if-range'];
  if (raw === undefined) return true;
  const value = (Array.isArray(raw) ? raw.join(', ') : raw).trim();
  if (value.startsWith('"')) return value === etagOf(file);
  return parseHttpDate(value) === file.mtimeSeconds;
}

/** A comma-separated list of entity tags (or `*`) holds `etag`; `weak` compares without `W/`. */
function matchesAny(list: string, etag: string, weak: boolean): boolean {
  return list.split(',').some((raw) => {
    let tag = raw.trim();
    if (tag === '*') return true;
    if (tag.startsWith('W/')) {
      if (!weak) return false;
      tag = tag.slice(2);
    }
    return tag === etag;
  });
}

/** Seconds since the epoch of an HTTP date, or null when it is not one. */
function parseHttpDate(value: string): number | null {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}
