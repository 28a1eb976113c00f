import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pidRuns } from '../../process/pid-file.js';

/**
 * A resource one test file at a time may use, while `npm test` runs several files at once
 * (scripts/test.js): the Docker engine above all — one engine, one swarm mode, one set of test
 * image tags. The first call in a test file waits for the resource and holds it until that file's
 * process exits (node --test runs each file in a process of its own), so every test of the file
 * runs with it; later calls in the same process return at once.
 *
 * Written by hand: the lock is a directory (mkdir is atomic) holding the owner's pid, so a holder
 * killed without cleaning up is seen as gone and its lock taken over. No package does just this
 * without a daemon or native code.
 */
const held = new Set<string>();
const POLL_MS = 250;

export async function holdForThisFile(resource: string, timeout = 30 * 60_000): Promise<void> {
  if (held.has(resource)) return;
  const root = join(tmpdir(), 'gatehouse-test-locks');
  mkdirSync(root, { recursive: true });
  const lock = join(root, resource);
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (ownerGone(lock)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`waited ${timeout} ms for the test resource "${resource}" (${lock})`);
      await sleep(POLL_MS);
    }
  }
  held.add(resource);
  process.once('exit', () => rmSync(lock, { recursive: true, force: true }));
}

/** The lock's owner process no longer runs (or never wrote its pid: give it a moment first). */
function ownerGone(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    return false;
  }
  return Number.isInteger(pid) && pid > 0 && !pidRuns(pid);
}
