import type { Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';

/**
 * Where a request path leads under a static root. The path comes normalised (proxy/routes/
 * target.ts: decoded, `.`/`..` resolved, a path climbing above "/" or holding NUL already refused
 * 400), in its latin1-bytes form; this module checks again rather than trust that, and then asks
 * the file system, because a name can still lead out of the root through a symlink.
 */
export type Resolved =
  /** A regular file inside the root: `path` is its real path (symlinks resolved). */
  | { kind: 'file'; path: string; stats: Stats }
  /** A directory named without its trailing slash: nginx answers 301 to the slash form. */
  | { kind: 'directory' }
  /** Nothing to serve: absent, not a regular file, a directory without index.html, or outside the root. */
  | { kind: 'missing' };

/** The file a directory request (path ending in "/") is answered with; there are no listings. */
export const INDEX_FILE = 'index.html';

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
 * Resolves a candidate path: a directory asked for with a trailing slash is its index.html, one
 * without is a redirect; the file must be regular and its real path inside the root's real path
 * (a symlink may point anywhere; only what stays in the root is served).
 */
export async function resolveFile(root: string, candidate: string): Promise<Resolved> {
  const wantsDirectory = candidate.endsWith(sep);
  const path = wantsDirectory ? join(candidate, INDEX_FILE) : candidate;
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch {
    return { kind: 'missing' };
  }
  if (!stats.isFile() && !(stats.isDirectory() && !wantsDirectory)) return { kind: 'missing' };
  const real = await insideRoot(root, path);
  if (real === null) return { kind: 'missing' };
  return stats.isDirectory() ? { kind: 'directory' } : { kind: 'file', path: real, stats };
}

/** The real path of `path` when it lies inside the real path of `root`; null otherwise (or when gone). */
export async function insideRoot(root: string, path: string): Promise<string | null> {
  try {
    const [realRoot, real] = await Promise.all([realpath(root), realpath(path)]);
    const prefix = realRoot.endsWith(sep) ? realRoot : `${realRoot}${sep}`;
    return real.startsWith(prefix) ? real : null;
  } catch {
    return null;
  }
}
