import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/*
 * Ports for servers a test starts itself on a port it names (nginx, a proxy process, pebble's
 * validation target): reserved machine-wide, so that two test files running at the same time never
 * get the same one. Written by hand: the npm port finders (get-port, portfinder) keep their
 * reservations in one process only, and the runner starts a process per test file.
 *
 * Two rules make a collision impossible rather than unlikely:
 * - the ports come from below the kernel's ephemeral range (32768+ here), which bind(0) and outgoing
 *   connections draw from, so no server on port 0 and no client socket can take one first;
 * - each is claimed by creating <tmpdir>/gatehouse-test-ports/<port> exclusively, holding the owner's
 *   pid; a claim whose owner is gone is taken over. The claims are removed when the process exits.
 */
const CLAIMS = join(tmpdir(), 'gatehouse-test-ports');
const LOW = 20_000;
const claimed = new Set<number>();

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOW + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function ownerAlive(file: string): boolean {
  const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function claim(port: number): boolean {
  const file = join(CLAIMS, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      if (ownerAlive(file)) return false;
      // The owner is gone: take the claim over (a race with another taker ends in one winner: the
      // loser's wx fails below).
      rmSync(file, { force: true });
      writeFileSync(file, String(process.pid), { flag: 'wx' });
    } catch {
      return false;
    }
  }
  claimed.add(port);
  return true;
}

function release(port: number): void {
  claimed.delete(port);
  rmSync(join(CLAIMS, String(port)), { force: true });
}

process.once('exit', () => {
  for (const port of claimed) rmSync(join(CLAIMS, String(port)), { force: true });
});

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/**
 * A block of `count` consecutive ports, claimed for this process and free on 127.0.0.1 right now;
 * resolves with the first. Random on purpose (the one unseeded draw in the tests): processes
 * starting together must not all try the same block first.
 */
export async function freePortRange(count: number): Promise<number> {
  mkdirSync(CLAIMS, { recursive: true, mode: 0o1777 });
  const span = ephemeralLow() - LOW - count;
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = LOW + Math.floor(Math.random() * span);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const got: number[] = [];
    for (const port of ports) {
      if (!claim(port)) break;
      got.push(port);
    }
    if (got.length === count) {
      const free = await Promise.all(ports.map(bindable));
      if (free.every(Boolean)) return base;
    }
    for (const port of got) release(port);
  }
  throw new Error(`no ${count} consecutive free ports found between ${LOW} and ${ephemeralLow()}`);
}

/** A port claimed for this process (see above) and free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return freePortRange(1);
}

/** A port nothing listens on, and nothing will: claimed like freePort's, never bound. Connections to it are refused. */
export function closedPort(): Promise<number> {
  return freePortRange(1);
}

/** Starts `server` listening on 127.0.0.1, on a port of the system's choosing, which it resolves with. */
export function listenLocal(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

/** Whether 127.0.0.1:port accepts a connection now. */
export function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves once 127.0.0.1:port accepts a connection; rejects after `timeout` ms or when `gaveUp()` says so. */
export async function waitForPort(port: number, timeout: number, gaveUp: () => string | null): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await answers(port))) {
    const why = gaveUp();
    if (why) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`nothing answered on 127.0.0.1:${port} within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
