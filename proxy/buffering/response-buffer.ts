import type { Writable } from 'node:stream';
import type { BufferingConfig } from '../../config/index.js';
import { SpillFile } from './spill-file.js';
import type { TempSpace } from './temp-space.js';

/** Memory one response may hold for a slow client at least (nginx's proxy_buffers: 8 × 4k/8k). */
const MIN_MEMORY = 64 * 1024;
/** How much of the temp file goes to the client per read. */
const READ_CHUNK = 64 * 1024;

export type ResponseBufferSettings = Pick<
  BufferingConfig,
  'memory' | 'tempPath' | 'maxTempFileSize' | 'maxDisk'
>;

/**
 * What the client has not taken yet of a response the upstream writes faster (nginx
 * proxy_buffering): made when a write to the client first finds its socket full. Chunks are held
 * in memory (max(buffering.memory, 64 KiB)), then appended to a temp file (up to
 * buffering.max_temp_file_size, counted against buffering.max_disk); only past those does the
 * upstream wait (push() returns false, `onRoom` says when to go on). The client is fed, in order,
 * from memory, then the file, then what came after the file, on each 'drain'. So a worker is
 * freed as soon as it wrote its response, however slowly the client reads. The buffer and its
 * file go when the response closes, finished or not.
 */
export class ResponseBuffer {
  /** Held in memory, before the file. */
  private head: Buffer[] = [];
  private headBytes = 0;
  private file: SpillFile | null = null;
  /** Where the next read of the file starts. */
  private readAt = 0;
  private reading = false;
  /** Held in memory after the file, while the file could take no more. */
  private tail: Buffer[] = [];
  /** The client's socket is full: waiting for its 'drain'. */
  private clientFull = true;
  /** The upstream parser waits for `onRoom`. */
  private paused = false;
  /** The upstream sent its last byte: the response ends once everything held went out. */
  private ended = false;
  private disposed = false;
  private readonly memory: number;

  constructor(
    /** The client's response (any Writable: the unit tests use a slow one). */
    private readonly res: Writable,
    private readonly space: TempSpace,
    private readonly settings: ResponseBufferSettings,
    private readonly onRoom: () => void,
  ) {
    this.memory = Math.max(settings.memory, MIN_MEMORY);
    res.once('drain', this.onDrain);
    res.once('close', this.dispose);
  }

  /** Takes the upstream's next chunk; false when full (the upstream waits for `onRoom`). */
  push(chunk: Buffer): boolean {
    if (this.disposed) return false;
    if (!this.clientFull && this.empty) {
      if (!this.res.write(chunk)) this.waitForDrain();
      return true;
    }
    if (this.file === null) {
      if (this.headBytes + chunk.length <= this.memory) {
        this.head.push(chunk);
        this.headBytes += chunk.length;
        return true;
      }
      if (this.spill(chunk)) return this.roomLeft() || this.pause();
      this.head.push(chunk);
      this.headBytes += chunk.length;
      return this.pause();
    }
    if (this.tail.length === 0 && this.spill(chunk)) return this.roomLeft() || this.pause();
    this.tail.push(chunk);
    return this.pause();
  }

  /** The upstream's response is complete: the client's ends after what is held. */
  end(): void {
    this.ended = true;
    this.feed();
  }

  /** Bytes held now, in memory and in the file (for tests and diagnostics). */
  get held(): number {
    const tail = this.tail.reduce((sum, chunk) => sum + chunk.length, 0);
    return this.headBytes + (this.file ? this.file.size - this.readAt : 0) + tail;
  }

  private get empty(): boolean {
    return this.headBytes === 0 && this.file === null && this.tail.length === 0;
  }

  /** Appends to the temp file (made on first use) if it and the disk have room for `chunk`. */
  private spill(chunk: Buffer): boolean {
    const { maxTempFileSize, maxDisk, tempPath } = this.settings;
    if ((this.file?.size ?? 0) + chunk.length > maxTempFileSize) return false;
    if (!this.space.reserve(chunk.length, maxDisk)) return false;
    if (this.file === null) {
      this.file = new SpillFile(this.space, tempPath);
      this.file.onWritten = this.onWritten;
    }
    this.file.append(chunk);
    return true;
  }

  /** Whether the upstream may send more: nothing waits behind the file, and its writes keep up. */
  private roomLeft(): boolean {
    if (this.tail.length > 0) return false;
    if (this.file === null) return this.headBytes < this.memory;
    return (
      this.file.pending <= this.memory &&
      this.file.size < this.settings.maxTempFileSize &&
      this.space.bytes < this.settings.maxDisk
    );
  }

  private pause(): boolean {
    this.paused = true;
    return false;
  }

  private waitForDrain(): void {
    this.clientFull = true;
    this.res.once('drain', this.onDrain);
  }

  private readonly onDrain = (): void => {
    this.clientFull = false;
    this.feed();
  };

  private readonly onWritten = (): void => {
    if (this.file?.error) {
      // What the file held is lost: the client must not get a response with a hole in it.
      this.res.destroy(this.file.error);
      return;
    }
    this.feed();
  };

  /** Writes what is held to the client until its socket is full, in order. */
  private feed(): void {
    while (!this.disposed && !this.clientFull && !this.reading) {
      const next = this.head.shift();
      if (next) {
        this.headBytes -= next.length;
        if (!this.res.write(next)) this.waitForDrain();
        continue;
      }
      const file = this.file;
      if (file === null) break;
      if (this.readAt < file.written) {
        this.readFile(file);
        return;
      }
      if (file.pending > 0) break; // the rest is still being written: onWritten comes back here
      // The file was read to its end: what waited behind it goes next, from memory.
      file.dispose();
      this.file = null;
      this.readAt = 0;
      this.head = this.tail;
      this.headBytes = this.head.reduce((sum, chunk) => sum + chunk.length, 0);
      this.tail = [];
    }
    if (this.paused && this.roomLeft()) {
      this.paused = false;
      this.onRoom();
    }
    if (this.ended && this.empty && !this.disposed) {
      this.disposed = true;
      this.res.end();
    }
  }

  private readFile(file: SpillFile): void {
    this.reading = true;
    file.read(this.readAt, READ_CHUNK).then(
      (bytes) => {
        this.reading = false;
        if (this.disposed) return;
        this.readAt += bytes.length;
        if (!this.res.write(bytes)) this.waitForDrain();
        this.feed();
      },
      (err: Error) => {
        this.reading = false;
        if (!this.disposed) this.res.destroy(err);
      },
    );
  }

  /** The response closed (finished, or the client left): the held bytes and the file go. */
  private readonly dispose = (): void => {
    this.disposed = true;
    this.head = [];
    this.tail = [];
    this.headBytes = 0;
    this.file?.dispose();
    this.file = null;
  };
}
