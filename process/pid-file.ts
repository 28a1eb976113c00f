import { readFileSync } from 'node:fs';

/**
 * The pid written in `path` when that process still runs, else null (no file, not a pid, or no
 * such process). A process of another user counts as running (kill 0 answers EPERM). Shared by
 * pm2's daemon lookup and the lock files that name their holder.
 */
export function livePidIn(path: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(path, 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  return pidRuns(pid) ? pid : null;
}

/** Whether process `pid` exists (signal 0 checks without sending anything). */
export function pidRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
