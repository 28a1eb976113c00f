import { closeSync, createReadStream, readSync, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteConfig, RouteStaticTarget } from '../../config/index.js';
import { errorPage } from '../errors.js';
import { encodePath, normalizePath, parseRequestTarget, routePathKey } from '../routes/target.js';
import { cacheHeaders } from './cache-control.js';
import { contentTypeOf } from './content-type.js';
import { acceptedEncodings, PRECOMPRESSED, type Precompressed } from './encoding.js';
import { parseRange } from './range.js';
import { filePathFor, INDEX_FILE, isFile, resolveFile } from './resolve-path.js';
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
 * streamed from an open file handle, so the file answered is the one validated; a read error after
 * the head went out cuts the response. Never throws: every failure becomes a response.
 */
export function serveStatic(s: StaticRequest): void {
  try {
    answer(s);
  } catch {
    if (s.res.headersSent) s.res.destroy();
    else sendPage(s, 500);
  }
}

function answer(s: StaticRequest): void {
  const { req, route, target } = s;
  const parsed = parseRequestTarget(req.url ?? '/', req.headers.host);
  const normalized = parsed ? normalizePath(parsed.path) : null;
  if (!parsed || normalized === null) return sendPage(s, 400);
  // nginx `alias` when the route strips its prefix, `root` (the whole path under it) otherwise.
  const relative = route.stripPrefix ? `/${normalized.slice(routePathKey(route.path).length)}` : normalized;
  const candidate = filePathFor(target.root, relative);
  const resolved = candidate ? resolveFile(target.root, candidate) : null;
  if (!candidate || !resolved || resolved.kind === 'missing') return sendPage(s, 404);
  if (resolved.kind === 'directory') {
    // nginx's static module: the slash form, with the query, as a relative Location (absolute_redirect off).
    const location = `${encodePath(`${normalized}/`)}${parsed.query}`;
    return sendPage(s, 301, { Location: location, ...cacheHeaders(target) });
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    closeSync(resolved.fd);
    return sendPage(s, 405, { Allow: 'GET, HEAD' });
  }
  const requested = candidate.endsWith('/') ? `${candidate}${INDEX_FILE}` : candidate;
  // nginx gzip_static looks beside the name asked for (not the symlink's target); so do we.
  const present = PRECOMPRESSED.filter((p) => isFile(`${requested}${p.suffix}`));
  let file = resolved;
  let encoding: Precompressed | null = null;
  for (const p of acceptedEncodings(req.headers, req.httpVersion)) {
    const sibling = present.includes(p) ? resolveFile(target.root, `${requested}${p.suffix}`) : null;
    if (sibling?.kind !== 'file') continue;
    closeSync(resolved.fd);
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

/** The open file (or its sibling): 304/412 by its validators, 206/416 by Range, else 200 and its bytes. */
function sendFile(
  s: StaticRequest,
  file: { fd: number; stats: Stats },
  headers: Record<string, string>,
  encoding: Precompressed | null,
): void {
  const { req } = s;
  const { fd, stats } = file;
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
    sendBody(s, fd, start, end);
  } finally {
    if (!streaming) closeSync(fd);
  }
}

/**
 * Bodies up to this size are read at once, synchronously, and sent with the head in one write:
 * from the page cache that takes microseconds, as nginx's own reads do, where a stream costs
 * thread-pool round trips (open read, close) per request — most of a small file's time.
 */
const SMALL_BODY = 64 * 1024;

/** The file's bytes start..end to the client; closes the descriptor. */
function sendBody(s: StaticRequest, fd: number, start: number, end: number): void {
  const length = end - start + 1;
  if (length > SMALL_BODY) return streamBody(s, fd, start, end);
  const body = Buffer.allocUnsafe(length);
  let read = 0;
  try {
    while (read < length) {
      const n = readSync(fd, body, read, length - read, start + read);
      if (n === 0) break;
      read += n;
    }
  } finally {
    closeSync(fd);
  }
  // The file shrank since its size was sent: cut the response, as a stream's short read would.
  if (read < length) return void s.res.destroy();
  s.onBodyBytes(length);
  s.res.end(body);
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
