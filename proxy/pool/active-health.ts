import { type ClientRequest, request } from 'node:http';
import type { Logger } from '../../process/logger.js';
import { parseWorkerHeader, WORKER_HEADER } from '../../stack/worker-identity.js';
import type { Pool } from './pool.js';
import type { Upstream } from './upstream.js';

export interface ActiveHealthOptions {
  /** Read at every round, so servers added by a reload or discovery get probed too. */
  getPool: () => Pool;
  path: string;
  interval: number;
  timeout: number;
  /** Consecutive passes that bring an unhealthy upstream back. */
  rise: number;
  /** Consecutive failures that take a healthy upstream out. */
  fall: number;
  logger?: Logger;
  onChange?: (upstream: Upstream, healthy: boolean) => void;
}

export interface ActiveHealthCheck {
  start(): void;
  /** Clears the timer and aborts probes in flight; their outcome is then ignored. */
  stop(): void;
  /** One round over every upstream of the current pool; resolves when all answered or timed out. */
  probeNow(): Promise<void>;
}

interface Streak {
  passes: number;
  fails: number;
}

/**
 * Periodic `GET path` to every upstream (2xx/3xx passes), writing `healthy` onto the upstream
 * after `fall` failures or `rise` passes in a row. Balancers then just read `available()`.
 * Probes use their own short-lived connections, never the proxy's keep-alive pool, so a probe
 * sees what a new connection would see. A gatehouse worker names itself in its answer (host name,
 * pid, instance, port, probes answered); that is written onto the upstream too, for the status page.
 */
export function createActiveHealthCheck(options: ActiveHealthOptions): ActiveHealthCheck {
  const { getPool, path, interval, timeout, rise, fall, logger, onChange } = options;
  // Keyed by the Upstream object: pools swap, reused upstreams keep their streak.
  const streaks = new WeakMap<Upstream, Streak>();
  const inFlight = new Map<Upstream, Promise<void>>();
  const probes = new Set<ClientRequest>();
  let timer: NodeJS.Timeout | null = null;
  let generation = 0;
  let running = false;

  function record(upstream: Upstream, passed: boolean, detail: string): void {
    let streak = streaks.get(upstream);
    if (!streak) {
      streak = { passes: 0, fails: 0 };
      streaks.set(upstream, streak);
    }
    if (passed) {
      streak.passes++;
      streak.fails = 0;
    } else {
      streak.fails++;
      streak.passes = 0;
    }
    const flip = upstream.healthy ? streak.fails >= fall : streak.passes >= rise;
    if (!flip) return;
    upstream.healthy = !upstream.healthy;
    const fields = { upstream: upstream.address, detail };
    if (upstream.healthy) logger?.info(fields, 'upstream healthy');
    else logger?.warn(fields, 'upstream unhealthy');
    try {
      onChange?.(upstream, upstream.healthy);
    } catch (error) {
      // A listener's bug must not escape into a socket event handler and crash the proxy.
      logger?.error({ err: error, upstream: upstream.address }, 'health change listener failed');
    }
  }

  function probe(upstream: Upstream, run: number): Promise<void> {
    return new Promise<void>(function sendProbe(resolve) {
      let settled = false;
      let deadline: NodeJS.Timeout | undefined;
      const finish = (passed: boolean, detail: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (run === generation) record(upstream, passed, detail);
        resolve();
      };
      let req: ClientRequest;
      try {
        req = request({
          host: upstream.host,
          port: upstream.port,
          path,
          method: 'GET',
          agent: false,
          headers: { connection: 'close', 'user-agent': 'gatehouse-health' },
        });
      } catch (error) {
        finish(false, (error as Error).message);
        return;
      }
      // Tracked until the socket is gone (not just until the verdict), so stop() leaves nothing open.
      probes.add(req);
      req.on('close', () => probes.delete(req));
      deadline = setTimeout(function probeTimedOut() {
        req.destroy();
        finish(false, `no answer within ${timeout} ms`);
      }, timeout);
      deadline.unref();
      req.on('response', function onProbeResponse(res) {
        const status = res.statusCode ?? 0;
        // Whoever answers now is who listens there now: a server that does not name itself clears
        // what an earlier one said.
        if (run === generation) upstream.worker = parseWorkerHeader(res.headers[WORKER_HEADER]);
        // The verdict is in the status line; drain the rest so the connection closes cleanly.
        res.on('error', () => {});
        res.resume();
        finish(status >= 200 && status < 400, `status ${status}`);
      });
      req.on('error', function onProbeError(error: NodeJS.ErrnoException) {
        finish(false, error.code ?? error.message);
      });
      req.on('close', () => finish(false, 'closed'));
      req.end();
    });
  }

  function probeNow(): Promise<void> {
    const run = generation;
    const rounds: Promise<void>[] = [];
    for (const upstream of getPool().upstreams) {
      // A probe still out for this upstream (a slow one overlapping the next round) is not doubled.
      let pending = inFlight.get(upstream);
      if (!pending) {
        pending = probe(upstream, run).finally(() => inFlight.delete(upstream));
        inFlight.set(upstream, pending);
      }
      rounds.push(pending);
    }
    return Promise.all(rounds).then(() => undefined);
  }

  function scheduleNext(run: number): void {
    if (run !== generation) return;
    timer = setTimeout(function healthRound() {
      timer = null;
      void probeNow().then(() => scheduleNext(run));
    }, interval);
    timer.unref();
  }

  return {
    start() {
      if (running) return;
      running = true;
      const run = ++generation;
      void probeNow().then(() => scheduleNext(run));
    },
    stop() {
      running = false;
      generation++;
      if (timer) clearTimeout(timer);
      timer = null;
      for (const req of probes) req.destroy();
      probes.clear();
    },
    probeNow,
  };
}
