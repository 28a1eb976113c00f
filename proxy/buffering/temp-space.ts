import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** A temp file just made: 0600, a name nobody else can have picked. */
export interface TempFile {
  path: string;
  handle: FileHandle;
}

/**
 * The temp files of one proxy process (request bodies and responses past buffering.memory) and
 * the disk they take, so that buffering.max_disk bounds them all together: a body that would
 * need more gets a 503, a response falls back to backpressure — the disk is never filled. Also
 * the gauge behind gatehouse_buffer_temp_bytes, and the list of files left to remove if the
 * process shuts down with requests still holding some.
 */
export class TempSpace {
  /** Bytes reserved by temp files now (written or about to be). */
  bytes = 0;
  /** Temp files open now. */
  files = 0;
  /** Every file listed, with its open handle (closed by remove() or removeAll()). */
  private readonly paths = new Map<string, FileHandle>();
  /** Files whose removal is under way. */
  private readonly removing = new Set<string>();
  /** Folders made (or found) already: mkdir runs once per folder, not per file. */
  private readonly folders = new Map<string, Promise<unknown>>();

  /** Takes `bytes` more of the disk if that stays within `maxDisk`; false (and nothing taken) if not. */
  reserve(bytes: number, maxDisk: number): boolean {
    if (this.bytes + bytes > maxDisk) return false;
    this.bytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.bytes -= bytes;
  }

  /** A new temp file in `folder` (made 0700 if missing), opened for reading and writing. */
  async create(folder: string): Promise<TempFile> {
    let made = this.folders.get(folder);
    if (!made) {
      made = mkdir(folder, { recursive: true, mode: 0o700 });
      this.folders.set(folder, made);
      // A failed mkdir (a path that cannot be made) is tried again by the next file.
      made.catch(() => this.folders.delete(folder));
    }
    await made;
    const path = join(folder, `${process.pid}-${randomBytes(12).toString('hex')}`);
    // 'wx+': never opens a file that exists (a name collision or a planted link fails instead).
    const handle = await open(path, 'wx+', 0o600);
    this.paths.set(path, handle);
    this.files++;
    return { path, handle };
  }

  /** Closes and removes a file from create(); once per file, later calls do nothing. */
  async remove(file: TempFile): Promise<void> {
    if (!this.paths.has(file.path) || this.removing.has(file.path)) return;
    this.removing.add(file.path);
    this.files--;
    await Promise.allSettled([file.handle.close(), unlink(file.path)]);
    // Listed until gone: a shutdown meanwhile removes it again rather than miss it.
    this.paths.delete(file.path);
    this.removing.delete(file.path);
  }

  /** Shutdown: removes every file still listed, at once (their requests are being cut anyway). */
  removeAll(): void {
    for (const [path, handle] of this.paths) {
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
      // Closed here, not left to the garbage collector (Node warns, and the descriptor stays
      // open until then); a handle remove() is closing already just fails this second close.
      handle.close().catch(() => {});
    }
    this.files = 0;
    this.paths.clear();
    this.removing.clear();
  }
}
