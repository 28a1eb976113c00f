import type { Stats } from 'node:fs';
import { dirname } from 'node:path';
import { PRECOMPRESSED, type Precompressed } from './encoding.js';
import { sameNode, settled } from './file-cache.js';
import { isFile, statOrNothing } from './resolve-path.js';

/**
 * Which precompressed siblings (`.br`, `.gz`) sit beside each file, kept per folder while the
 * folder is unchanged: one stat of the folder instead of one per sibling on every request. Adding,
 * removing or renaming a name in a folder changes its mtime and ctime (a rewrite in place of a
 * sibling does not, and need not: the sibling is still there, and its bytes are looked up on their
 * own). A folder changed within the last second is looked at afresh each time, as file-cache.ts
 * does for files (coarse file times).
 */
export class SiblingTable {
  readonly #folders = new Map<string, { stats: Stats; present: Map<string, readonly Precompressed[]> }>();
  #files = 0;

  /** Up to this many files' answers are kept (all forgotten at once beyond it). */
  constructor(readonly maxFiles = 10_000) {}

  /** The siblings present beside `path`, in PRECOMPRESSED order. */
  present(path: string, now = Date.now()): readonly Precompressed[] {
    const folder = dirname(path);
    const stats = statOrNothing(folder);
    let entry = this.#folders.get(folder);
    if (entry && (!stats || !sameNode(stats, entry.stats))) {
      this.#folders.delete(folder);
      this.#files -= entry.present.size;
      entry = undefined;
    }
    const known = entry?.present.get(path);
    if (known) return known;
    const found = PRECOMPRESSED.filter((p) => isFile(`${path}${p.suffix}`));
    if (!stats || !settled(stats, now)) return found;
    if (this.#files >= this.maxFiles) {
      this.#folders.clear();
      this.#files = 0;
      entry = undefined;
    }
    if (!entry) {
      entry = { stats, present: new Map() };
      this.#folders.set(folder, entry);
    }
    entry.present.set(path, found);
    this.#files++;
    return found;
  }
}
