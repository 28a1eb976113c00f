import type { ServerConfig } from '../../../config/index.js';
import type { Logger } from '../../../process/logger.js';
import { type BackoffOptions, createReconnect } from '../backoff.js';
import { createSnapshotDelivery } from '../delivery.js';
import type { PoolSource } from '../source.js';
import { defaultTimers, type SourceTimers } from '../timers.js';
import { connectPm2, type Pm2BusEvent, type Pm2Client, type Pm2ProcessEntry } from './client.js';
import { pm2Snapshot, processKey, type SkippedProcess } from './snapshot.js';

export interface Pm2PoolConfig {
  /** The pm2 app whose instances are the workers. */
  app: string;
  /** workers.host, workers.port: where a worker listens when its environment says nothing else. */
  host: string;
  port: number;
}

export interface Pm2SourceOptions {
  /** Connects to the daemon; default: pm2's client on this process's PM2_HOME. */
  connect?: () => Promise<Pm2Client>;
  logger?: Logger;
  /** Bus events within this many ms cause one re-list (a reload fires several per worker). */
  debounce?: number;
  /** A re-list this often even without events: a missed event costs at most this long. */
  resync?: number;
  /** This many exits without a drain within `crashWindow` ms make an instance crash-looping. */
  crashExits?: number;
  crashWindow?: number;
  retry?: BackoffOptions;
  timers?: SourceTimers;
  now?: () => number;
}

/** Events after which the set of online workers may differ. */
const RELIST_EVENTS = new Set(['online', 'exit', 'stop', 'restart', 'delete', 'restart overlimit', 'start']);

/**
 * The pool as pm2 runs it: the instances of the worker app that are online, so `pm2 scale` is
 * followed. The same shape as the Docker source: every bus event (online, exit, ...) causes a
 * re-list of pm2's processes and a whole new snapshot from a pure function, never a patch; the
 * bus is followed before the first list, so nothing falls between the two.
 *
 * - **Joining**: pm2 marks a `wait_ready` worker online only once it said ready (it listens), and
 *   notifies `online` then: the worker joins at that re-list.
 * - **Leaving**: a worker signalled to stop (scale down, reload, restart) announces its drain on
 *   pm2's bus before it closes its listener; it leaves the pool at that message, so new requests
 *   go elsewhere while it finishes the ones it has. pm2 itself says nothing until the process
 *   has exited.
 * - **Crash-looping**: an instance that exited `crashExits` times within `crashWindow` without
 *   draining first stays out until it has gone that long without a crash; pm2 marks it online
 *   between crashes, and each time the pool would send it requests. Never all of them, though.
 *
 * A daemon that does not answer (not yet, or the bus dropped) is retried with backoff; the last
 * pool stays in force meanwhile.
 */
export function createPm2Source(
  config: Pm2PoolConfig,
  defaults: { maxFails: number; failTimeout: number },
  options: Pm2SourceOptions = {},
): PoolSource {
  const {
    connect = () => connectPm2(),
    logger,
    debounce = 25,
    resync = 10_000,
    crashExits = 3,
    crashWindow = 30_000,
    retry = { initial: 250, max: 10_000 },
    timers = defaultTimers,
    now = Date.now,
  } = options;

  let deliver: ((servers: readonly ServerConfig[]) => void) | null = null;
  // Bumped by start, stop and every lost connection: callbacks of an older one are ignored.
  let generation = 0;
  let client: Pm2Client | null = null;
  let relistTimer: unknown = null;
  let resyncTimer: unknown = null;
  const reconnect = createReconnect(retry, timers);
  let listed: readonly Pm2ProcessEntry[] | null = null;
  let listSeq = 0;
  let appliedSeq = 0;
  const delivery = createSnapshotDelivery('pm2', { app: config.app }, logger);
  const leaving = new Set<string>();
  /** pm_ids that announced a drain and have not been online since: their exits are not crashes. */
  const drained = new Set<number>();
  const crashes = new Map<number, number[]>();
  const reported = new Map<number, string>();

  function open(): void {
    const gen = ++generation;
    connect().then(
      (c) => {
        if (gen !== generation) return c.close();
        client = c;
        c.follow(
          (event) => {
            if (gen === generation) onEvent(event);
          },
          (error) => lost(gen, error),
        );
        relist(gen);
      },
      (error: unknown) => lost(gen, error),
    );
  }

  function relist(gen: number): void {
    if (gen !== generation || client === null) return;
    const seq = ++listSeq;
    client.list().then(
      (processes) => {
        // A slow answer must not overwrite a newer one.
        if (gen !== generation || seq < appliedSeq) return;
        appliedSeq = seq;
        reconnect.succeeded();
        listed = processes;
        // A draining process that is gone (or runs under a new pid) needs no marking any more.
        const running = new Set(
          processes.filter((p) => p.name === config.app).map((p) => processKey(p.pm_id ?? -1, p.pid ?? 0)),
        );
        for (const key of leaving) if (!running.has(key)) leaving.delete(key);
        publish();
        scheduleResync(gen);
      },
      (error: unknown) => lost(gen, error),
    );
  }

  function scheduleRelist(): void {
    if (relistTimer !== null) return;
    const gen = generation;
    relistTimer = timers.setTimeout(() => {
      relistTimer = null;
      relist(gen);
    }, debounce);
  }

  function scheduleResync(gen: number): void {
    if (resyncTimer !== null) timers.clearTimeout(resyncTimer);
    resyncTimer = timers.setTimeout(() => {
      resyncTimer = null;
      relist(gen);
    }, resync);
  }

  function onEvent(event: Pm2BusEvent): void {
    if (event.name !== config.app) return;
    if (event.kind === 'draining') {
      drained.add(event.pmId);
      const proc = listed?.find((p) => p.pm_id === event.pmId);
      const pid = event.pid ?? proc?.pid ?? 0;
      leaving.add(processKey(event.pmId, pid));
      // Rebuilt from the last list at once: every ms counts between the signal and the refusal.
      // Unless that would leave nobody: the last list may predate a worker that came online a
      // moment ago (a reload stops the next worker right after the previous one said ready), and
      // a draining worker still answers on its open connections. Then the re-list decides.
      if (snapshot().servers.length > 0) publish();
      scheduleRelist();
      return;
    }
    // pm2 reports a stop it makes twice ('exit' from its stop, then from the child's exit): every
    // exit after a drain belongs to that stop. The mark goes when the next run of that pm_id is
    // online, so a crash of the new run counts again (one that never gets online is never in the
    // pool anyway).
    if (event.event === 'exit' && !drained.has(event.pmId)) {
      crashes.set(event.pmId, [...recentCrashes(event.pmId), now()]);
    }
    if (event.event === 'online') drained.delete(event.pmId);
    if (event.event === 'delete') {
      crashes.delete(event.pmId);
      drained.delete(event.pmId);
    }
    if (RELIST_EVENTS.has(event.event)) scheduleRelist();
  }

  function recentCrashes(pmId: number): number[] {
    const since = now() - crashWindow;
    return (crashes.get(pmId) ?? []).filter((at) => at > since);
  }

  function crashLooping(): Set<number> {
    const looping = new Set<number>();
    for (const pmId of crashes.keys()) {
      const recent = recentCrashes(pmId);
      if (recent.length === 0) crashes.delete(pmId);
      else crashes.set(pmId, recent);
      if (recent.length >= crashExits) looping.add(pmId);
    }
    return looping;
  }

  function snapshot(): ReturnType<typeof pm2Snapshot> {
    const options = { ...config, ...defaults, leaving, crashLooping: crashLooping() };
    const result = pm2Snapshot(listed ?? [], options);
    // Leaving out every worker as crash-looping would be an outage of our own making: then they
    // all stay in, and the passive health checks and retries deal with them (nginx's "all servers
    // down: try them anyway").
    if (result.servers.length > 0 || options.crashLooping.size === 0) return result;
    return pm2Snapshot(listed ?? [], { ...options, crashLooping: new Set() });
  }

  function publish(): void {
    if (!deliver || listed === null) return;
    const { servers, skipped } = snapshot();
    report(skipped);
    delivery.deliver(deliver, servers);
  }

  /** Logs each process's reason once, when it changes, not on every re-list. */
  function report(skipped: readonly SkippedProcess[]): void {
    for (const s of skipped) {
      if (reported.get(s.pmId) === s.reason) continue;
      const fields = { app: config.app, pmId: s.pmId, reason: s.reason };
      if (s.reason === 'crash-looping') logger?.warn(fields, 'pm2 pool: worker left out');
      else logger?.debug(fields, 'pm2 pool: worker not in the pool');
    }
    reported.clear();
    for (const s of skipped) reported.set(s.pmId, s.reason);
  }

  function lost(gen: number, error: unknown): void {
    if (gen !== generation || deliver === null) return;
    generation++;
    client?.close();
    client = null;
    clearTimers();
    const { retryIn, attempt } = reconnect.schedule(() => {
      if (deliver !== null) open();
    });
    logger?.warn(
      { err: error, app: config.app, retryIn, attempt },
      'pm2 pool: no answer from the pm2 daemon; keeping the last pool',
    );
  }

  function clearTimers(): void {
    for (const timer of [relistTimer, resyncTimer]) if (timer !== null) timers.clearTimeout(timer);
    relistTimer = null;
    resyncTimer = null;
    reconnect.cancel();
  }

  return {
    start(onSnapshot) {
      if (deliver !== null) return;
      deliver = onSnapshot;
      delivery.reset();
      reconnect.succeeded();
      open();
    },
    stop() {
      deliver = null;
      generation++;
      client?.close();
      client = null;
      clearTimers();
      listed = null;
      leaving.clear();
      drained.clear();
      crashes.clear();
      reported.clear();
    },
  };
}
