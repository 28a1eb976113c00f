import { closeSync, createReadStream, readSync, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteConfig, RouteStaticTarget } from '../../config/index.js';
import { errorPage } from '../errors.js';
import { encodePath, normalizePath, parseRequestTarget, routePathKey } from '../routes/target.js';
import { cacheHeaders } from './cache-control.js';
import { contentTypeOf } from './content-type.js';
import { acceptedEncodings, type Precompressed } from './encoding.js';
import { CACHED_FILE_MAX, FileCache } from './file-cache.js';
import { parseRange } from './range.js';
import { filePathFor, INDEX_FILE, type Resolved, resolveFile } from './resolve-path.js';
import { SiblingTable } from './siblings.js';
import { conditionalStatus, etagOf, type FileVersion, ifRangeHolds, lastModifiedOf } from './validators.js';

/** One request to a static route, with what the request path around it wants told. */
export interface StaticRequest {
  req: IncomingMessage;
  res: ServerResponse;
  route: RouteConfig;
  target: RouteStaticTarget;
  requestId: string;
  /** Told the size of every body chunk sent (nginx $body_bytes_sent). */
  onBodyBytes: (bytes: number) => void;
}

/**
 * A static route's answer, as nginx's static, index and gzip_static modules give it: a file under
 * the route's root (or the directory's index.html), GET and HEAD only, with validators (304/412),
 * one byte range (206/416), a precompressed sibling the client accepts, and the route's caching
 * headers. Written here rather than with `send`/`serve-static`: those answer differently from nginx
 * where the conformance suite compares both fronts (weak ETags, If-Modified-Since as "not newer"
 * rather than nginx's exact match, listings and dotfile rules, no .br/.gz siblings). The body is
 * read from the open file handle the answer was validated by (a small file's bytes then kept while
 * the file is unchanged, file-cache.ts; a large one streamed), so the file answered is the one
 * validated; a read error after the head went out cuts the response. Never throws: every failure
 * becomes a response.
 */
export function serveStatic(s: StaticRequest): void {
  try {
    answer(s);
  } catch {
    if (s.res.headersSent) s.res.destroy();
    else sendPage(s, 500);
  }
}

/** Small files' bytes, kept while unchanged (file-cache.ts), and which have siblings: one each per proxy process. */
const files = new FileCache();
const siblings = new SiblingTable();

/** A file to answer with: open (its descriptor the caller's to close), or its bytes kept in `files`. */
type Source =
  | { key: string; stats: Stats; fd: number; body?: undefined }
  | { key: string; stats: Stats; body: Buffer; fd?: undefined };

/** The file for `requested` (candidate's path, with index.html for a directory's slash form). */
function lookup(root: string, candidate: string, requested: string): Source | Resolved {
  const kept = files.get(requested);
  if (kept !== null) return { key: requested, ...kept };
  const resolved = resolveFile(root, candidate);
  return resolved.kind === 'file' ? { key: requested, stats: resolved.stats, fd: resolved.fd } : resolved;
}

function release(file: Source): void {
  if (file.fd !== undefined) closeSync(file.fd);
}

function answer(s: StaticRequest): void {
  const { req, route, target } = s;
  const parsed = parseRequestTarget(req.url ?? '/', req.headers.host);
  const normalized = parsed ? normalizePath(parsed.path) : null;
  if (!parsed || normalized === null) return sendPage(s, 400);
  // nginx `alias` when the route strips its prefix, `root` (the whole path under it) otherwise.
  const relative = route.stripPrefix ? `/${normalized.slice(routePathKey(route.path).length)}` : normalized;
  const candidate = filePathFor(target.root, relative);
  if (!candidate) return sendPage(s, 404);
  const requested = candidate.endsWith('/') ? `${candidate}${INDEX_FILE}` : candidate;
  const found = lookup(target.root, candidate, requested);
  if ('kind' in found) {
    if (found.kind !== 'directory') return sendPage(s, 404);
    // nginx's static module: the slash form, with the query, as a relative Location (absolute_redirect off).
    const location = `${encodePath(`${normalized}/`)}${parsed.query}`;
    return sendPage(s, 301, { Location: location, ...cacheHeaders(target) });
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    release(found);
    return sendPage(s, 405, { Allow: 'GET, HEAD' });
  }
  // nginx gzip_static looks beside the name asked for (not the symlink's target); so do we.
  const present = siblings.present(requested);
  let file = found;
  let encoding: Precompressed | null = null;
  for (const p of acceptedEncodings(req.headers, req.httpVersion)) {
    if (!present.includes(p)) continue;
    const path = `${requested}${p.suffix}`;
    const sibling = lookup(target.root, path, path);
    if ('kind' in sibling) continue;
    release(found);
    file = sibling;
    encoding = p;
    break;
  }
  const headers: Record<string, string> = {
    'Content-Type': contentTypeOf(requested),
    ...cacheHeaders(target),
    // gzip_static with gzip_vary: the answer depends on Accept-Encoding whenever a sibling exists.
    ...(present.length > 0 ? { Vary: 'Accept-Encoding' } : {}),
  };
  sendFile(s, file, headers, encoding);
}

/** The file (or its sibling): 304/412 by its validators, 206/416 by Range, else 200 and its bytes. */
function sendFile(
  s: StaticRequest,
  file: Source,
  headers: Record<string, string>,
  encoding: Precompressed | null,
): void {
  const { req } = s;
  const { stats } = file;
  let streaming = false;
  try {
    const version: FileVersion = { size: stats.size, mtimeSeconds: Math.floor(stats.mtimeMs / 1000) };
    const validators = { ETag: etagOf(version), 'Last-Modified': lastModifiedOf(version) };
    const conditional = conditionalStatus(req.headers, version);
    if (conditional === 412) return sendPage(s, 412);
    if (conditional === 304) {
      const { 'Content-Type': _type, ...kept } = headers;
      return sendHead(s, 304, { ...kept, ...validators });
    }
    const range = ifRangeHolds(req.headers, version) ? parseRange(req.headers.range, version.size) : null;
    if (range === 'unsatisfiable') return sendPage(s, 416, { 'Content-Range': `bytes */${version.size}` });
    const start = range ? range.start : 0;
    const end = range ? range.end : version.size - 1;
    Object.assign(headers, validators, {
      ...(encoding ? { 'Content-Encoding': encoding.encoding } : {}),
      'Accept-Ranges': 'bytes',
      'Content-Length': String(end - start + 1),
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${version.size}` } : {}),
    });
    const bodyless = req.method === 'HEAD' || end < start;
    sendHead(s, range ? 206 : 200, headers, bodyless);
    if (bodyless || s.res.destroyed) return;
    // sendBody owns (and closes) the descriptor from here, whatever happens.
    streaming = true;
    sendBody(s, file, start, end);
  } finally {
    if (!streaming) release(file);
  }
}

/** The file's bytes start..end to the client; closes the descriptor. */
function sendBody(s: StaticRequest, file: Source, start: number, end: number): void {
  if (file.fd !== undefined && file.stats.size > CACHED_FILE_MAX) return streamBody(s, file.fd, start, end);
  const whole = file.body ?? readWhole(file.fd, file.stats.size);
  // The file shrank since its size was sent: cut the response, as a stream's short read would.
  if (whole === null) return void s.res.destroy();
  if (file.body === undefined) files.set(file.key, file.stats, whole);
  const body = whole.subarray(start, end + 1);
  s.onBodyBytes(body.length);
  s.res.end(body);
}

/**
 * A small file's bytes, read at once, synchronously, and sent with the head in one write: from the
 * page cache that takes microseconds, as nginx's own reads do, where a stream costs thread-pool
 * round trips (open read, close) per request. Closes the descriptor; null when the file came up
 * shorter than its size.
 */
function readWhole(fd: number, size: number): Buffer | null {
  const body = Buffer.allocUnsafe(size);
  let read = 0;
  try {
    while (read < size) {
      const n = readSync(fd, body, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
  } finally {
    closeSync(fd);
  }
  return read < size ? null : body;
}

/** The file's bytes start..end, streamed; the stream owns (and closes) the descriptor. */
function streamBody(s: StaticRequest, fd: number, start: number, end: number): void {
  const { res } = s;
  const stream = createReadStream('', { fd, start, end, autoClose: true });
  stream.on('data', (chunk: string | Buffer) => s.onBodyBytes(chunk.length));
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}

function sendHead(s: StaticRequest, status: number, headers: Record<string, string>, end = true): void {
  if (s.res.destroyed) return;
  s.res.writeHead(status, { ...headers, 'X-Request-Id': s.requestId });
  if (end) s.res.end();
}

/** A small HTML page (error or redirect), as the rest of the proxy makes them. */
function sendPage(s: StaticRequest, status: number, extra: Record<string, string> = {}): void {
  const { req, res } = s;
  if (res.destroyed) return;
  const body = errorPage(status);
  res.writeHead(status, {
    ...extra,
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(body),
    'X-Request-Id': s.requestId,
  });
  if (req.method === 'HEAD') return void res.end();
  res.end(body);
  s.onBodyBytes(Buffer.byteLength(body));
}
