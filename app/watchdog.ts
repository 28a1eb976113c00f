import { writeSync } from 'node:fs';
import { url as inspectorUrl, Session } from 'node:inspector';
import { hostname } from 'node:os';
import { isMainThread, Worker, workerData } from 'node:worker_threads';

/**
 * gunicorn's --timeout for a Node worker: a worker whose event loop is blocked longer than
 * `workers.timeout` (a busy loop, a sync call that never returns, a catastrophic regex) is killed
 * with SIGKILL, and whatever supervises it (pm2's autorestart, Docker's restart policy, systemd)
 * starts a fresh one.
 *
 * Why a thread in the worker, and not the proxy's health checks: a blocked event loop cannot
 * answer anything, but it cannot kill itself either, and only something that knows it is this
 * process can kill it. A `worker_threads` thread has an event loop of its own, so it keeps running
 * while the main one is stuck; it sees the block itself, within the timeout, wherever the worker
 * runs — under pm2, in a container, bare — with nothing outside to set up. The proxy's active
 * health check only takes a server out of the pool (it cannot kill a process, and behind Docker
 * or another host it does not even know one); Docker's HEALTHCHECK marks a container unhealthy but
 * plain Docker never restarts an unhealthy one. Once the thread has killed the worker, its
 * connections are reset and new ones refused: the proxy's passive health takes it out at once and
 * its retries send idempotent requests to another worker, and under pm2 the bus tells the pool of
 * the exit too.
 *
 * The main thread bumps a counter in a SharedArrayBuffer every timeout/4 (an unref'd interval, so
 * it never keeps a draining worker alive); the thread looks every timeout/8. It kills once it has
 * seen the counter stand still for timeout + timeout/4: the last bump came at most timeout/4 before
 * the block began, so a kill means the loop was blocked at least `timeout`, and at most about
 * 1.5 × timeout passes between the start of the block and the kill.
 *
 * In a container the worker should not be pid 1: the kernel ignores a SIGKILL that the first
 * process of a PID namespace sends itself. Our compose files, the deployer and the Swarm stack run
 * Docker's init (tini is pid 1); for the rest (`docker run` without --init, Kubernetes) the thread
 * falls back to process.exit(137) on the main thread through the inspector.
 */

/** What the thread is started with. */
interface WatchdogData {
  kind: typeof THREAD_KIND;
  /** One Int32: the main thread's heartbeat counter. */
  heartbeat: SharedArrayBuffer;
  timeout: number;
  /** Fields of the fatal log line, as the worker's logger writes them (instance, port). */
  bindings: Record<string, unknown>;
}

const THREAD_KIND = 'gatehouse-watchdog';

export interface WatchdogOptions {
  /** workers.timeout in ms; 0 = no watchdog (startWatchdog returns null). */
  timeout: number;
  /** Added to the fatal line (instance, port), so it names the worker like its other lines do. */
  bindings?: Record<string, unknown>;
  /** Told if the thread itself fails (then there is no watchdog; the worker serves on). */
  onError?: (err: Error) => void;
}

export interface Watchdog {
  /** Stops the heartbeat and the thread (tests; a worker just exits with it running). */
  stop(): Promise<void>;
}

/**
 * Starts the heartbeat and the watchdog thread; null when `timeout` is 0 (off), or when the worker
 * runs with --inspect: a debugger stopped at a breakpoint holds the loop exactly like a hang does.
 */
export function startWatchdog({ timeout, bindings = {}, onError }: WatchdogOptions): Watchdog | null {
  if (timeout <= 0 || inspectorUrl() !== undefined) return null;
  const heartbeat = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  const beats = new Int32Array(heartbeat);
  const beat = setInterval(() => Atomics.add(beats, 0, 1), Math.max(1, Math.floor(timeout / 4)));
  beat.unref();
  const data: WatchdogData = { kind: THREAD_KIND, heartbeat, timeout, bindings };
  // This very module, run as the thread (the branch at the bottom): nothing but node: imports.
  const thread = new Worker(new URL(import.meta.url), { workerData: data });
  // The thread must never be what keeps a worker that is done from exiting.
  thread.unref();
  thread.on('error', (err) => {
    clearInterval(beat);
    onError?.(err);
  });
  return {
    async stop() {
      clearInterval(beat);
      await thread.terminate();
    },
  };
}

/** The thread: watches the counter and kills the process when it stood still too long. */
function watch({ heartbeat, timeout, bindings }: WatchdogData): void {
  const beats = new Int32Array(heartbeat);
  const check = Math.max(1, Math.floor(timeout / 8));
  const limit = timeout + Math.floor(timeout / 4);
  let seen = Atomics.load(beats, 0);
  let movedAt = performance.now();
  let lastTick = movedAt;
  const timer = setInterval(() => {
    const now = performance.now();
    // This thread was not running either (the process stopped by SIGSTOP or a debugger, the machine
    // suspended): the silence says nothing about the event loop, so start counting afresh.
    const stalled = now - lastTick > limit;
    lastTick = now;
    const current = Atomics.load(beats, 0);
    if (current !== seen || stalled) {
      seen = current;
      movedAt = now;
      return;
    }
    const blocked = Math.round(now - movedAt);
    if (blocked < limit) return;
    // Once: what follows ends the process, or (pid 1) hands over to exitThroughInspector.
    clearInterval(timer);
    // Written straight to fd 2, synchronously: the main thread, which would write a worker
    // thread's process.stderr, is the one that is stuck; and the process dies on the next line.
    const line = {
      level: 60,
      time: new Date().toISOString(),
      pid: process.pid,
      hostname: hostname(),
      name: 'worker',
      ...bindings,
      timeout,
      blockedMs: blocked,
      msg: `event loop blocked for ${blocked} ms, longer than workers.timeout (${timeout} ms): killing the worker (SIGKILL) for pm2 or Docker to restart`,
    };
    writeSync(2, `${JSON.stringify(line)}\n`);
    // SIGKILL, as gunicorn's arbiter kills a worker past its timeout: a blocked loop would never
    // run a SIGTERM handler (no drain is possible), and nothing can catch this one.
    process.kill(process.pid, 'SIGKILL');
    // Still here a second later: the kernel dropped it, as it drops every signal without a handler
    // that the first process of a PID namespace sends itself (a container run without an init:
    // `docker run` without --init, a Kubernetes pod). Then the main thread is made to exit.
    setTimeout(() => exitThroughInspector(line), 1000);
  }, check);
}

/**
 * process.exit(137) (128 + SIGKILL, as a supervisor would report the kill) run on the main thread
 * through the inspector: its messages interrupt running JavaScript, the way a debugger pauses a
 * busy loop. Not the first choice: a thread stuck inside a native call never takes the interrupt.
 */
function exitThroughInspector(line: Record<string, unknown>): void {
  const note = {
    ...line,
    time: new Date().toISOString(),
    msg: 'SIGKILL ignored (the worker is pid 1 of its PID namespace: run it under an init, such as docker run --init); exiting with 137 instead',
  };
  writeSync(2, `${JSON.stringify(note)}\n`);
  const session = new Session();
  session.connectToMainThread();
  session.post('Runtime.evaluate', { expression: 'process.exit(137)' });
}

if (!isMainThread && (workerData as Partial<WatchdogData> | null)?.kind === THREAD_KIND) {
  watch(workerData as WatchdogData);
}
