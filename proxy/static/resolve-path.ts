import { closeSync, constants, fstatSync, openSync, realpathSync, type Stats, statSync } from 'node:fs';
import { join, sep } from 'node:path';

/**
 * Where a request path leads under a static root. The path comes normalised (proxy/routes/
 * target.ts: decoded, `.`/`..` resolved, a path climbing above "/" or holding NUL already refused
 * 400), in its latin1-bytes form; this module checks again rather than trust that, and then asks
 * the file system, because a name can still lead out of the root through a symlink.
 *
 * The metadata calls (open, fstat, realpath) are synchronous, as nginx makes them: on a local file
 * system they take microseconds, less than one thread-pool round trip each, which the static bench
 * showed costing more than half the throughput. A small file's body is read the same way and then
 * kept while unchanged (file-cache.ts); a large one is streamed.
 */
export type Resolved =
  /** A regular file inside the root, open: `fd` is the caller's to close; `path` its real path. */
  | { kind: 'file'; path: string; stats: Stats; fd: number }
  /** A directory named without its trailing slash: nginx answers 301 to the slash form. */
  | { kind: 'directory' }
  /** Nothing to serve: absent, not a regular file, a directory without index.html, or outside the root. */
  | { kind: 'missing' };

/** The file a directory request (path ending in "/") is answered with; there are no listings. */
export const INDEX_FILE = 'index.html';

/** O_NONBLOCK: opening a FIFO someone placed in the root must not hang the process (nginx does the same). */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/**
 * The file-system path for a request path relative to the route (after its prefix when the route
 * strips it, nginx `alias`; the whole path otherwise, nginx `root`), or null when the path could
 * only mean something outside the root: a `..` segment, a NUL. A backslash is an ordinary
 * character of a name on POSIX (as nginx treats it there), so it can only name a file in the root.
 */
export function filePathFor(root: string, relative: string): string | null {
  if (!relative.startsWith('/')) return null;
  const name = Buffer.from(relative, 'latin1').toString('utf8');
  if (name.includes('\0')) return null;
  const segments = name.split('/');
  if (segments.some((segment) => segment === '..' || segment === '.')) return null;
  const path = join(root, name);
  // join keeps a trailing slash: it still says "the directory's index" to resolveFile.
  return path === root || path.startsWith(root.endsWith(sep) ? root : `${root}${sep}`) ? path : null;
}

/**
 * Opens a candidate path: a directory asked for with a trailing slash is its index.html, one
 * without is a redirect; the file must be regular and its real path inside the root's real path
 * (a symlink may point anywhere; only what stays in the root is served). The file is validated
 * and then read through the same descriptor, so what is answered is what was checked.
 */
export function resolveFile(root: string, candidate: string): Resolved {
  const wantsDirectory = candidate.endsWith(sep);
  const path = wantsDirectory ? join(candidate, INDEX_FILE) : candidate;
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch {
    return { kind: 'missing' };
  }
  try {
    const stats = fstatSync(fd);
    const directory = stats.isDirectory() && !wantsDirectory;
    const real = (stats.isFile() || directory) && insideRoot(root, path);
    if (real && stats.isFile()) {
      const found: Resolved = { kind: 'file', path: real, stats, fd };
      fd = -1;
      return found;
    }
    return real ? { kind: 'directory' } : { kind: 'missing' };
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** A regular file at `path` (a precompressed sibling, for Vary), without opening it. */
export function isFile(path: string): boolean {
  return statOrNothing(path)?.isFile() ?? false;
}

/** stat(2) of `path` following symlinks, or undefined when there is nothing to stat there. */
export function statOrNothing(path: string): Stats | undefined {
  try {
    // No exception for the usual miss (an absent sibling): making one costs more than the stat.
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * The real path of each root as last seen. A root is resolved again only when a file's real path is
 * not under it: a root that is a symlink swapped to a new release (the usual atomic deploy) is
 * followed at the first request after the swap, and the common request costs one realpath, not two.
 * Until a request leads outside the root as last seen, a file under it counts as inside, even one
 * reached after a swap through a symlink back into the previous release: a release that was the
 * root. (nginx, with its default `disable_symlinks off`, checks nothing of the kind.)
 */
const realRoots = new Map<string, string>();

/** The real path of `path` when it lies inside the real path of `root`; null otherwise (or when gone). */
export function insideRoot(root: string, path: string): string | null {
  try {
    // .native: libc's realpath, one call; the JS one lstat()s every component.
    const real = realpathSync.native(path);
    const known = realRoots.get(root);
    if (known !== undefined && isUnder(real, known)) return real;
    const realRoot = realpathSync.native(root);
    realRoots.set(root, realRoot);
    return isUnder(real, realRoot) ? real : null;
  } catch {
    return null;
  }
}

function isUnder(real: string, realRoot: string): boolean {
  return real.startsWith(realRoot.endsWith(sep) ? realRoot : `${realRoot}${sep}`);
}
