import { statSync } from 'node:fs';

/**
 * The group owning a local engine socket (docker, or root), which the proxy container joins so its
 * non-root user may open the socket. null when the socket is not on this host (a remote engine).
 */
export function socketGroup(path: string): number | null {
  try {
    const stat = statSync(path);
    return stat.isSocket() ? stat.gid : null;
  } catch {
    return null;
  }
}
