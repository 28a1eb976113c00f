import type { ServerResponse } from 'node:http';

/**
 * workers.concurrency: at most `limit` requests in the app at once; the rest wait, in arrival
 * order, and are never refused (gunicorn's sync worker: one request at a time, the others wait in
 * the listen backlog).
 *
 * Why a gate per request and not per connection: the proxy keeps a pool of keep-alive connections
 * to each worker, so "stop accepting connections" alone would let a pooled connection carry any
 * number of requests past the limit. A waiting request has its head parsed but the app does not
 * see it, and its body is not read: Node stops reading a socket once the unread body fills the
 * request's buffer, so the sender feels TCP backpressure exactly as with a worker that is busy.
 */
export interface RequestGate {
  /** Requests the app is serving now. */
  readonly inFlight: number;
  /** Requests waiting for a slot. */
  readonly waiting: number;
  /**
   * Calls `start` now if a slot is free, else once one is, after every request that came before.
   * The slot is held until `res` closes (sent in full, or its connection gone). A request whose
   * connection closes while it waits is dropped from the line without being started.
   */
  admit(res: ServerResponse, start: () => void): void;
}

interface Waiting {
  res: ServerResponse;
  start: () => void;
  /** 'gone': its connection closed while it waited, so it is skipped. */
  state: 'waiting' | 'started' | 'gone';
}

/** `limit` null: no limit; every request starts at once. */
export function createRequestGate(limit: number | null): RequestGate {
  let inFlight = 0;
  // An array read from a head index: shift() is O(n), and the line can be long under a burst.
  let line: Array<Waiting | null> = [];
  let head = 0;
  let waiting = 0;

  function run(res: ServerResponse, start: () => void): void {
    inFlight++;
    // 'close' comes after 'finish', and also when the connection dies mid-response: either way
    // the app is done with this request and the slot is free. Node emits it once.
    res.once('close', () => {
      inFlight--;
      next();
    });
    start();
  }

  function next(): void {
    while (limit !== null && inFlight < limit && head < line.length) {
      const entry = line[head]!;
      line[head] = null;
      head++;
      if (entry.state === 'gone') continue;
      entry.state = 'started';
      waiting--;
      run(entry.res, entry.start);
    }
    if (head === line.length) {
      line = [];
      head = 0;
    } else if (head > 1024 && head * 2 > line.length) {
      // A line that never empties (steady overload) still gives back what it has served.
      line = line.slice(head);
      head = 0;
    }
  }

  return {
    get inFlight() {
      return inFlight;
    },
    get waiting() {
      return waiting;
    },
    admit(res, start) {
      if (limit === null || inFlight < limit) {
        run(res, start);
        return;
      }
      const entry: Waiting = { res, start, state: 'waiting' };
      line.push(entry);
      waiting++;
      res.once('close', () => {
        if (entry.state !== 'waiting') return;
        entry.state = 'gone';
        waiting--;
      });
    },
  };
}
