import { createReadStream, type ReadStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { BufferingConfig } from '../../config/index.js';
import { ProxyError } from '../errors.js';
import { SpillFile } from './spill-file.js';
import type { TempSpace } from './temp-space.js';

/** How much of a temp file a read stream takes per read (the upstream socket's own buffer size). */
const READ_CHUNK = 64 * 1024;

/**
 * A whole request body, read before any upstream is picked (nginx proxy_request_buffering): in
 * memory up to buffering.memory, then in a temp file. It can be sent any number of times — one
 * copy per upstream attempt — so a retry after a refused connection sends it again.
 */
export class RequestBody {
  size = 0;
  private chunks: Buffer[] = [];
  private whole: Buffer | null = null;
  private file: SpillFile | null = null;
  /**
   * Reads of the file not closed yet: undici leaves the body of a failed request (a refused
   * connection) as it is, and a read stream holds its descriptor until it ends or is destroyed.
   */
  private readonly readers = new Set<ReadStream>();

  constructor(
    private readonly space: TempSpace,
    private readonly settings: Pick<BufferingConfig, 'memory' | 'tempPath' | 'maxDisk'>,
  ) {}

  /** Keeps `chunk`; false when it needs disk that buffering.max_disk has not left (nothing kept). */
  add(chunk: Buffer): boolean {
    const size = this.size + chunk.length;
    if (this.file === null) {
      if (size <= this.settings.memory) {
        this.chunks.push(chunk);
        this.size = size;
        return true;
      }
      // Spills: what memory held goes first, then everything else to the same file.
      if (!this.space.reserve(size, this.settings.maxDisk)) return false;
      this.file = new SpillFile(this.space, this.settings.tempPath);
      for (const held of this.chunks) this.file.append(held);
      this.chunks = [];
    } else if (!this.space.reserve(chunk.length, this.settings.maxDisk)) {
      return false;
    }
    this.file.append(chunk);
    this.size = size;
    return true;
  }

  /** The temp file, if the body spilled to one. */
  get spill(): SpillFile | null {
    return this.file;
  }

  /** The body for one upstream attempt: the bytes (kept in memory) or a fresh read of the file. */
  source(): Buffer | Readable {
    if (this.file?.path) {
      const reader = createReadStream(this.file.path, { highWaterMark: READ_CHUNK });
      this.readers.add(reader);
      reader.once('close', () => this.readers.delete(reader));
      return reader;
    }
    // One copy at most, made once: a body in one chunk is sent as it came.
    this.whole ??= this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    return this.whole;
  }

  /** Drops the body and removes its temp file. */
  dispose(): void {
    this.chunks = [];
    this.whole = null;
    for (const reader of this.readers) reader.destroy();
    this.file?.dispose();
  }
}

/**
 * Reads the client's body into `body`, then says `done(null)`; or stops at the first problem and
 * says it: over client_max_body_size (413), no disk left (503), the temp file failed (500). A
 * client that goes away gets no call: the exchange ends on the response's 'close'. Reading waits
 * while more than buffering.memory is queued for the disk, so a fast client cannot fill memory.
 */
export function readRequestBody(
  req: IncomingMessage,
  body: RequestBody,
  limits: { maxBodySize: number; memory: number },
  done: (error: ProxyError | null) => void,
): void {
  let finished = false;
  let ended = false;
  const stop = (error: ProxyError | null) => {
    if (finished) return;
    finished = true;
    req.off('data', onData);
    req.off('end', onEnd);
    if (body.spill) body.spill.onWritten = null;
    done(error);
  };
  const onData = (chunk: Buffer) => {
    if (body.size + chunk.length > limits.maxBodySize) {
      return stop(new ProxyError('GH_ERR_BODY_TOO_LARGE', 'body over client_max_body_size'));
    }
    if (!body.add(chunk)) {
      return stop(
        new ProxyError('GH_ERR_BUFFER_FULL', 'no temp space left for the body (buffering.max_disk)'),
      );
    }
    const spill = body.spill;
    if (spill === null) return;
    spill.onWritten ??= onWritten;
    if (spill.pending > limits.memory) req.pause();
  };
  // Paused, the request may hold parsed bytes not emitted yet (req.complete says nothing about
  // them): only 'end' says the body is all here.
  const onWritten = () => {
    const spill = body.spill!;
    if (spill.error) return stop(writeError(spill.error));
    if (ended) {
      if (spill.pending === 0) stop(null);
    } else if (spill.pending <= limits.memory && req.isPaused()) {
      req.resume();
    }
  };
  const onEnd = () => {
    ended = true;
    if (body.spill) onWritten();
    else stop(null);
  };
  req.on('data', onData);
  req.on('end', onEnd);
}

function writeError(error: Error): ProxyError {
  return new ProxyError('GH_ERR_BUFFER_WRITE', error.message);
}
