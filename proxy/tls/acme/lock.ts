import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { lockFile } from './storage.js';

// With several proxy processes (instances > 1) on one storage folder only one orders: the one that
// makes the lock file. The file holds its pid, so a lock left by a process that died mid-order is
// taken over rather than blocking renewals forever. Pids are per host (per PID namespace):
// processes sharing a storage folder must share a host.

/** Whether a process with this pid is alive (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readPid(path: string): Promise<number | null> {
  const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

export interface OrderLock {
  release(): Promise<void>;
}

/**
 * Takes the order lock of `storage`, or returns the pid of the live process holding it. The pid is
 * written to a file of our own first and hard-linked to the lock's name: link() fails when the name
 * exists, so taking is one atomic test-and-set and the lock never exists without its pid.
 */
export async function takeOrderLock(storage: string): Promise<OrderLock | { heldBy: number }> {
  const path = lockFile(storage);
  const mine = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(mine, String(process.pid), { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(mine, path);
        return { release: () => unlink(path).catch(() => undefined) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = await readPid(path);
      if ((holder !== null && alive(holder)) || attempt > 0) return { heldBy: holder ?? 0 };
      // Stale: move it aside under a name of our own, then look at what was moved. Two processes
      // taking over at once: the second may have moved the first's fresh lock; it puts it back.
      const aside = `${mine}.stale`;
      if (
        await rename(path, aside).then(
          () => true,
          () => false,
        )
      ) {
        const moved = await readPid(aside);
        if (moved !== null && alive(moved)) {
          await link(aside, path).catch(() => undefined);
          await unlink(aside).catch(() => undefined);
          return { heldBy: moved };
        }
        await unlink(aside).catch(() => undefined);
      }
    }
  } finally {
    await unlink(mine).catch(() => undefined);
  }
}
