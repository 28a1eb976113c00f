import type { Stats } from 'node:fs';
import { statOrNothing } from './resolve-path.js';

/**
 * The bytes of small static files, kept per proxy process. nginx sends a file with `sendfile`
 * straight from the page cache; the nearest a Node process gets is one Buffer written to every
 * client asking for the same file. Reading a fresh copy each time costs a 16 KiB allocation, a
 * read and the garbage they leave, which the static bench showed taking more time than the rest
 * of the request. No library does this beside the validators and ranges answered here (the npm
 * caches are for responses or for whole directories read up front).
 *
 * An entry is used only while the file at its path is still the one read: every request stats the
 * path (following symlinks, as the first lookup did) and compares device, inode, size, mtime and
 * ctime. Any write, replace (rename over it), chmod or symlink swap changes one of them, and the
 * file is looked up from scratch (opened, checked against the root, read). The root check is not
 * repeated on a hit: the same inode was inside the root when it was read. A file changed within
 * the last second is not kept: file times tick coarsely (a few ms), so two writes of the same size
 * in one tick look alike; as git treats such a file as "racily clean", it is read again until
 * its times are old enough to tell.
 */
export interface CachedFile {
  stats: Stats;
  body: Buffer;
}

/** Files up to this size are kept (the bodies sent with the head in one write). */
export const CACHED_FILE_MAX = 64 * 1024;

/** How old a file's last change must be before its bytes are kept (see the racy-clean note above). */
const SETTLED_MS = 1000;

/** What one proxy process keeps at most, least recently used first out. */
export const FILE_CACHE_BYTES = 32 * 1024 * 1024;

export class FileCache {
  readonly #entries = new Map<string, CachedFile>();
  #bytes = 0;

  constructor(readonly maxBytes = FILE_CACHE_BYTES) {}

  /** The kept bytes of `path` when the file there is unchanged since they were read; else null. */
  get(path: string): CachedFile | null {
    const entry = this.#entries.get(path);
    if (entry === undefined) return null;
    const stats = statOrNothing(path);
    this.#delete(path, entry);
    if (stats === undefined || !sameFile(stats, entry.stats)) return null;
    // Map order is insertion order: put back last, the most recently used.
    const fresh = { stats, body: entry.body };
    this.#entries.set(path, fresh);
    this.#bytes += fresh.body.length;
    return fresh;
  }

  /** Keeps what was just read from `path` (its whole content, as `stats` describe it). */
  set(path: string, stats: Stats, body: Buffer, now = Date.now()): void {
    if (body.length !== stats.size || body.length > CACHED_FILE_MAX || body.length > this.maxBytes) return;
    if (!settled(stats, now)) return;
    const old = this.#entries.get(path);
    if (old !== undefined) this.#delete(path, old);
    this.#entries.set(path, { stats, body });
    this.#bytes += body.length;
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#delete(oldest, entry);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  #delete(path: string, entry: CachedFile): void {
    this.#entries.delete(path);
    this.#bytes -= entry.body.length;
  }
}

/** The same file, unchanged: a rename over it changes the inode, a write mtime and ctime, a chmod ctime. */
function sameFile(a: Stats, b: Stats): boolean {
  return a.isFile() && a.size === b.size && sameNode(a, b);
}

/** The same inode with the same change times (a file, or a folder whose names are unchanged). */
export function sameNode(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/** Last changed long enough ago for its times to tell the next change apart (SETTLED_MS). */
export function settled(stats: Stats, now: number): boolean {
  return now - Math.max(stats.mtimeMs, stats.ctimeMs) >= SETTLED_MS;
}
