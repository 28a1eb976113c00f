import { pipeline, Writable } from 'node:stream';
import { type BrotliCompress, constants, createBrotliCompress, createGzip, type Gzip } from 'node:zlib';
import type { Coding } from './negotiate.js';

/** zlib streams made and not yet closed, in this process (for tests and diagnostics: a leak grows it). */
let open = 0;

export function openCompressors(): number {
  return open;
}

export interface CompressionOptions {
  coding: Coding;
  level: number;
  /** The body's length when the upstream said it (Content-Length), else null. */
  length: number | null;
}

/**
 * brotli's window, as a power of two: 512 KiB (ngx_brotli's default) for a body of unknown length,
 * not brotli's 4 MiB — each open stream holds its window, and a body on the fly gains next to
 * nothing from more. A body of known length gets the smallest window that holds it, as ngx_brotli
 * does: an encoder's tables grow with its window and are cleared for every response, which for a
 * 17 KiB page at the 512 KiB window cost more than the compression itself (half the responses a
 * second through the proxy).
 */
export function brotliWindow(length: number | null): number {
  if (length === null) return 19;
  let bits = constants.BROTLI_MIN_WINDOW_BITS;
  while (bits < 19 && 2 ** bits < length) bits++;
  return bits;
}

/** What one write may queue before it reports the body full (an upstream read is up to 64 KiB). */
const HIGH_WATER = 64 * 1024;

/**
 * A response body compressed on its way to the client: a Writable the upstream attempt (or its
 * response buffer) writes the worker's bytes into, with node:zlib between it and the client's
 * response. Nothing is held beyond zlib's own window: backpressure runs from the client's socket
 * through zlib to `write()`'s return value and 'drain', as for an uncompressed body.
 *
 * zlib keeps what it has not yet emitted until enough input makes a block; a page streamed in
 * pieces (or an event stream, for a user who lists text/event-stream) would reach the client
 * late. So once the upstream goes quiet — at the end of the event-loop turn in which bytes were
 * written — the output is flushed (gzip Z_SYNC_FLUSH, brotli's FLUSH): a fast upstream's many
 * chunks of one socket read make one block, a slow one's chunks each reach the client as they come.
 *
 * The client leaving, or the client's response cut, ends zlib too (pipeline); this body is then
 * destroyed as well (its 'close' frees a response buffer's file). Destroying this body — a buffer
 * that lost its temp file — cuts the client's response. No error reaches an 'error' event with no
 * listener: the process never sees one.
 */
export class CompressedBody extends Writable {
  private readonly zlib: Gzip | BrotliCompress;
  private readonly flushKind: number;
  private flushQueued = false;

  constructor(res: Writable, options: CompressionOptions, onBytes: (bytes: number) => void) {
    super({ highWaterMark: HIGH_WATER });
    const { coding, level, length } = options;
    if (coding === 'br') {
      this.zlib = createBrotliCompress({
        params: {
          [constants.BROTLI_PARAM_QUALITY]: level,
          [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
          [constants.BROTLI_PARAM_LGWIN]: brotliWindow(length),
          ...(length !== null ? { [constants.BROTLI_PARAM_SIZE_HINT]: length } : {}),
        },
      });
      this.flushKind = constants.BROTLI_OPERATION_FLUSH;
    } else {
      this.zlib = createGzip({ level });
      this.flushKind = constants.Z_SYNC_FLUSH;
    }
    open++;
    this.zlib.once('close', () => open--);
    pipeline(this.zlib, res, (err) => {
      if (err) this.destroy();
    });
    // After the pipe: its 'data' listener and this one see every compressed chunk.
    this.zlib.on('data', (chunk: Buffer) => onBytes(chunk.length));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.queueFlush();
    if (this.zlib.write(chunk)) done();
    else this.zlib.once('drain', () => done());
  }

  override _final(done: (error?: Error | null) => void): void {
    this.zlib.end();
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    // After a normal end zlib still writes out its last block: only a cut ends it early.
    if (!this.writableFinished) this.zlib.destroy();
    done(error);
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(flushQuietBody, this);
  }

  /** The upstream wrote nothing more this turn: what zlib holds goes to the client. */
  flushNow(): void {
    this.flushQueued = false;
    if (this.zlib.writableEnded || this.zlib.destroyed) return;
    this.zlib.flush(this.flushKind);
  }
}

/** setImmediate's callback takes the body as an argument: no closure per write. */
function flushQuietBody(body: CompressedBody): void {
  body.flushNow();
}
