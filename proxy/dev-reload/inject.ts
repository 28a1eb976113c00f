import type { OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * Putting one `<script src=…>` tag into an HTML response on its way to the browser, without
 * buffering the page: the tag goes before the first `</body>`, or at the very end when there is
 * none (a parser puts a late script into the body all the same). Content-Length, when the worker
 * sent one, grows by the tag's length, so keep-alive and framing stay as the worker chose.
 */

/** What the response head says, header names in lower case, values as strings. */
export type HeadLookup = (name: string) => string[];

/** Why a response is passed on untouched; null when the tag goes in. */
export function skipReason(status: number, get: HeadLookup): string | null {
  // No body, or not a page: 1xx, 204, 304; a range is a slice of a page.
  if (status < 200 || status === 204 || status === 304 || status === 206) return 'no page body';
  const type = get('content-type')[0]?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'text/html') return 'not text/html';
  if (get('content-encoding').some((value) => value.trim().toLowerCase() !== 'identity')) return 'compressed';
  if (get('content-range').length > 0) return 'a range';
  if (get('cache-control').some((value) => /(^|,)\s*no-transform\s*(,|$)/i.test(value)))
    return 'no-transform';
  return null;
}

const BODY_END = /<\/body/i;
/** Bytes kept back from a chunk in case `</body` is split across two writes. */
const KEEP = '</body'.length - 1;

/** Streams a body through, adding `tag` once: before the first `</body`, else at the end. */
export class TagInserter {
  private carry: Buffer = Buffer.alloc(0);
  private inserted = false;

  constructor(private readonly tag: Buffer) {}

  push(chunk: Buffer): Buffer {
    if (this.inserted) return chunk;
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    // latin1 maps byte i to character i, so the match index is the byte offset (UTF-8 or not).
    const at = data.toString('latin1').search(BODY_END);
    if (at >= 0) {
      this.inserted = true;
      this.carry = Buffer.alloc(0);
      return Buffer.concat([data.subarray(0, at), this.tag, data.subarray(at)]);
    }
    const cut = Math.max(0, data.length - KEEP);
    this.carry = Buffer.from(data.subarray(cut));
    return data.subarray(0, cut);
  }

  end(): Buffer {
    if (this.inserted) return Buffer.alloc(0);
    this.inserted = true;
    const rest = Buffer.concat([this.carry, this.tag]);
    this.carry = Buffer.alloc(0);
    return rest;
  }
}

/** Responses interceptHtml watches (compression asks through `mayTag`). */
const watched = new WeakSet<ServerResponse>();

/**
 * Whether this response, with this upstream head, is a page the tag goes into: the proxy then
 * leaves it uncompressed (proxy/compression/exchange.ts), since the tag goes into plain bytes.
 */
export function mayTag(res: ServerResponse, status: number, headers: readonly string[]): boolean {
  return watched.has(res) && skipReason(status, headLookup(res, headers)) === null;
}

type WriteHeadArgs = [statusMessage?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: unknown];

/**
 * Wraps one response's writeHead: `decide` sees the status and head and returns the tag to
 * insert, or null to leave the response alone. Only this response object changes; the request
 * path writes to it as always (writeHead, write with backpressure, end).
 */
export function interceptHtml(
  res: ServerResponse,
  decide: (status: number, get: HeadLookup) => Buffer | null,
): void {
  watched.add(res);
  const writeHead = res.writeHead;
  res.writeHead = function interceptedWriteHead(
    this: ServerResponse,
    status: number,
    ...args: WriteHeadArgs
  ) {
    // An interim (1xx) head is not the page's: the final one still comes through here.
    if (status >= 200) res.writeHead = writeHead;
    const headerArg = typeof args[0] === 'string' ? args[1] : args[0];
    const get = headLookup(res, headerArg);
    const tag = decide(status, get);
    if (tag) {
      adjustLength(res, headerArg, tag.length);
      insertIntoBody(res, new TagInserter(tag));
    }
    return (writeHead as (...all: unknown[]) => ServerResponse).apply(this, [status, ...args]);
  } as ServerResponse['writeHead'];
}

function headLookup(res: ServerResponse, headers: unknown): HeadLookup {
  return (name) => {
    const values: string[] = [];
    const add = (value: unknown) => {
      if (Array.isArray(value)) for (const v of value) values.push(String(v));
      else if (value !== undefined && value !== null) values.push(String(value));
    };
    if (Array.isArray(headers)) {
      // writeHead's flat list: name, value, name, value …
      for (let i = 0; i + 1 < headers.length; i += 2)
        if (String(headers[i]).toLowerCase() === name) add(headers[i + 1]);
    } else if (headers && typeof headers === 'object') {
      for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) add(value);
    }
    if (values.length === 0) add(res.getHeader(name));
    return values;
  };
}

function adjustLength(res: ServerResponse, headers: unknown, extra: number): void {
  const grow = (value: unknown) => String(Number(value) + extra);
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2)
      if (String(headers[i]).toLowerCase() === 'content-length') headers[i + 1] = grow(headers[i + 1]);
  } else if (headers && typeof headers === 'object') {
    const record = headers as Record<string, unknown>;
    for (const key of Object.keys(record))
      if (key.toLowerCase() === 'content-length') record[key] = grow(record[key]);
  }
  const set = res.getHeader('content-length');
  if (set !== undefined) res.setHeader('content-length', grow(set));
}

type Callback = (error?: Error | null) => void;

function toBuffer(chunk: unknown, encoding: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string')
    return Buffer.from(chunk, (encoding as BufferEncoding | undefined) ?? 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.alloc(0);
}

function insertIntoBody(res: ServerResponse, inserter: TagInserter): void {
  const write = res.write.bind(res) as (chunk: Buffer, cb?: Callback) => boolean;
  const end = res.end.bind(res) as (chunk: Buffer, cb?: Callback) => ServerResponse;
  res.write = function insertingWrite(chunk: unknown, encoding?: unknown, cb?: unknown) {
    const callback = (typeof encoding === 'function' ? encoding : cb) as Callback | undefined;
    const out = inserter.push(toBuffer(chunk, typeof encoding === 'function' ? undefined : encoding));
    if (out.length === 0) {
      if (callback) process.nextTick(callback);
      return true;
    }
    return callback ? write(out, callback) : write(out);
  } as ServerResponse['write'];
  res.end = function insertingEnd(chunk?: unknown, encoding?: unknown, cb?: unknown) {
    const callback = [chunk, encoding, cb].find((arg) => typeof arg === 'function') as Callback | undefined;
    const body =
      typeof chunk === 'function' || chunk === undefined || chunk === null ? Buffer.alloc(0) : chunk;
    const head = inserter.push(toBuffer(body, typeof encoding === 'function' ? undefined : encoding));
    const out = Buffer.concat([head, inserter.end()]);
    return callback ? end(out, callback) : end(out);
  } as ServerResponse['end'];
}
