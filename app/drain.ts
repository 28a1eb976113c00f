import type { Server, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';

/**
 * How long idle keep-alive connections stay open after a drain starts. Closing them at once
 * (what Node's http `server.close()` does) races with a peer — the proxy's upstream pool, or a
 * client — writing its next request into one of them, and a POST lost that way cannot be retried.
 * Meanwhile every response says `Connection: close`, and the peer learns that this server is
 * going (new connections are refused).
 */
export const IDLE_CLOSE_DELAY = 1000;

export interface Drainer {
  readonly closing: boolean;
  /** Counts a response as in flight until it closes; during a drain it carries Connection: close. */
  track(res: ServerResponse): void;
  /** Stop accepting, finish in-flight requests (up to `gracePeriod`), then close every connection. Resolves with what was still in flight. */
  drain(gracePeriod: number): Promise<number>;
}

export function createDrainer(server: Server): Drainer {
  const active = new Set<ServerResponse>();
  let closing = false;
  let wake: (() => void) | null = null;

  return {
    get closing() {
      return closing;
    },
    track(res) {
      active.add(res);
      if (closing) res.shouldKeepAlive = false;
      res.once('close', () => {
        active.delete(res);
        if (active.size === 0) wake?.();
      });
    },
    async drain(gracePeriod) {
      closing = true;
      for (const res of active) if (!res.headersSent) res.shouldKeepAlive = false;
      // net.Server's close stops accepting and leaves open connections alone (see IDLE_CLOSE_DELAY).
      NetServer.prototype.close.call(server);
      const timers: NodeJS.Timeout[] = [];
      const delay = (ms: number) => new Promise<void>((resolve) => timers.push(setTimeout(resolve, ms)));
      const idle = active.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (wake = resolve));
      await Promise.race([
        Promise.all([idle, delay(Math.min(IDLE_CLOSE_DELAY, gracePeriod))]),
        delay(gracePeriod),
      ]);
      for (const timer of timers) clearTimeout(timer);
      const left = active.size;
      server.closeAllConnections();
      return left;
    },
  };
}
