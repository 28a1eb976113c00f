import type { TempFile, TempSpace } from './temp-space.js';

/**
 * One temp file that bytes are appended to and read back from at any position, while it is being
 * written. Appends are queued in memory and written one batch at a time (writev), so the caller
 * never waits; `pending` says how much is still in memory, for callers that must bound it. The
 * disk it takes is reserved in the TempSpace by the caller, and given back here on dispose().
 */
export class SpillFile {
  /** Bytes appended so far (written or queued). */
  size = 0;
  /** Bytes on disk: readable from 0 to here. */
  written = 0;
  /** Bytes appended but not written yet. */
  pending = 0;
  /** The write or the open failed (ENOSPC, EACCES): nothing more is written. */
  error: Error | null = null;
  /** Told after each batch is written, or on failure. */
  onWritten: (() => void) | null = null;
  private queue: Buffer[] = [];
  private writing = false;
  private disposed = false;
  private file: TempFile | null = null;
  private readonly opened: Promise<TempFile>;

  constructor(
    private readonly space: TempSpace,
    folder: string,
  ) {
    this.opened = space.create(folder);
    this.opened.then(
      (file) => {
        this.file = file;
        // Disposed while the open was under way: the file must not outlive its owner.
        if (this.disposed) void space.remove(file);
      },
      (err: Error) => this.fail(err),
    );
  }

  append(chunk: Buffer): void {
    this.size += chunk.length;
    this.pending += chunk.length;
    this.queue.push(chunk);
    if (!this.writing) void this.writeQueued();
  }

  /** Up to `length` bytes from `position` (within `written`). */
  async read(position: number, length: number): Promise<Buffer> {
    const { handle } = await this.opened;
    const buffer = Buffer.allocUnsafe(Math.min(length, this.written - position));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    return bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
  }

  /** The path once the file is open (always, after a first batch was written); else null. */
  get path(): string | null {
    return this.file?.path ?? null;
  }

  /** Removes the file and gives its disk back; everything queued is dropped. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.queue = [];
    this.space.release(this.size);
    if (this.file) void this.space.remove(this.file);
  }

  private async writeQueued(): Promise<void> {
    this.writing = true;
    try {
      const { handle } = await this.opened;
      while (this.queue.length > 0 && !this.disposed) {
        const batch = this.queue;
        this.queue = [];
        const length = batch.reduce((sum, chunk) => sum + chunk.length, 0);
        const { bytesWritten } = await handle.writev(batch, this.written);
        // A regular file takes all of it or fails; short means out of space.
        if (bytesWritten !== length)
          throw new Error(`short write to temp file (${bytesWritten} of ${length})`);
        this.written += length;
        this.pending -= length;
        this.onWritten?.();
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.writing = false;
    }
  }

  private fail(err: Error): void {
    if (this.error || this.disposed) return;
    this.error = err;
    this.onWritten?.();
  }
}
