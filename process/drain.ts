import type { Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Linked, LinkedList } from './linked-list.js';

/**
 * During a drain, a keep-alive connection is closed by us only after it sat idle this long.
 * Closing idle connections at once (what Node's http `server.close()` does) races with a peer —
 * the proxy's upstream pool, or a client — writing its next request into one of them, and a POST
 * lost that way cannot be retried. Meanwhile every response says `Connection: close`, so a
 * connection that is still in use closes itself after its next response, and a peer that keeps
 * reusing its connections leaves none idle this long.
 */
export const IDLE_CLOSE_AFTER = 2000;
const SWEEP_EVERY = 100;

export interface Drainer {
  readonly closing: boolean;
  /** Counts a response as in flight until it closes; during a drain it carries Connection: close. */
  track(res: ServerResponse): void;
  /** A socket handed over by an upgrade (WebSocket): its owner closes it, the drain leaves it alone. */
  release(socket: Duplex): void;
  /**
   * Stop accepting, let in-flight requests finish and connections close (up to `gracePeriod`),
   * then close every connection left. Resolves with the number of requests still in flight then.
   */
  drain(gracePeriod: number): Promise<number>;
}

class ConnectionState extends Linked {
  busy = 0;
  idleSince = Date.now();
  /** The newest response on this connection, while it is in flight (pipelined ones queue behind it). */
  latest: ServerResponse | null = null;

  constructor(readonly socket: Socket) {
    super();
  }
}

/** Turns of the event loop that acceptQueued waits at most: more than a full accept queue (511). */
const ACCEPT_TURNS_MAX = 1000;

/**
 * Lets Node accept the connections waiting in the kernel's accept queue. Closing a listener resets
 * every connection queued there: the kernel completed its handshake, so the peer (the proxy) has
 * written its request into it, and a POST lost that way cannot be sent again. The queue fills
 * whenever the event loop is busy, as it is on a loaded machine or in the turn that handles the
 * signal. Node accepts one queued connection per turn of its event loop (libuv 1.46 here: 30
 * queued took 30 turns), and while any is queued each turn accepts one; so the queue is empty
 * after the first turn that accepted none. Those accepted now are served like any other in a
 * drain. Hand-written: neither Node nor libuv can stop a listener without resetting its queue.
 */
async function acceptQueued(server: Server): Promise<void> {
  let accepted = 0;
  const count = () => accepted++;
  server.on('connection', count);
  try {
    // The first turn's poll may have run before the drain began: it proves nothing.
    await new Promise((resolve) => setImmediate(resolve));
    for (let turn = 0; turn < ACCEPT_TURNS_MAX; turn++) {
      const before = accepted;
      await new Promise((resolve) => setImmediate(resolve));
      if (accepted === before) return;
    }
  } finally {
    server.off('connection', count);
  }
}

export function createDrainer(server: Server): Drainer {
  // Responses in flight are counted and connections linked through their state, neither kept in a
  // Set or Map (linked-list.ts): a Set that every response joined and left made V8 promote nearly
  // all of a request's objects, about a tenth of the proxy's CPU per request.
  let inFlight = 0;
  const connections = new LinkedList<ConnectionState>();
  /** Each socket's state, kept on the socket itself: each request finds it without a lookup. */
  const stateOf = Symbol('drain state');
  type Tracked = { [stateOf]?: ConnectionState };
  let closing = false;

  server.on('connection', (socket: Socket) => {
    const state = new ConnectionState(socket);
    (socket as Tracked)[stateOf] = state;
    connections.add(state);
    socket.once('close', () => connections.delete(state));
  });

  return {
    get closing() {
      return closing;
    },
    track(res) {
      inFlight++;
      // A pipelined request's response has no socket until those before it are done; its request does.
      const state = ((res.socket ?? res.req?.socket) as Tracked | null | undefined)?.[stateOf];
      if (state) {
        state.busy++;
        state.latest = res;
      }
      if (closing) res.shouldKeepAlive = false;
      res.once('close', () => {
        inFlight--;
        if (state) {
          state.busy--;
          state.idleSince = Date.now();
          if (state.latest === res) state.latest = null;
        }
      });
    },
    release(socket) {
      const state = (socket as Tracked)[stateOf];
      if (!state) return;
      connections.delete(state);
      (socket as Tracked)[stateOf] = undefined;
    },
    async drain(gracePeriod) {
      closing = true;
      // Idle time counts from the drain's start: a connection idle since before it may be the one
      // the proxy is writing its next request into right now, and must get the same 2 s as any.
      const start = Date.now();
      for (const state of connections) {
        state.idleSince = Math.max(state.idleSince, start);
        // The newest response of a connection closes it; those pipelined before it go out as usual.
        if (state.latest && !state.latest.headersSent) state.latest.shouldKeepAlive = false;
      }
      await acceptQueued(server);
      // net.Server's close stops accepting and leaves open connections alone (see IDLE_CLOSE_AFTER).
      NetServer.prototype.close.call(server);
      const deadline = Date.now() + gracePeriod;
      while (Date.now() < deadline && (inFlight > 0 || connections.size > 0)) {
        const now = Date.now();
        for (const state of connections) {
          if (state.busy === 0 && now - state.idleSince >= Math.min(IDLE_CLOSE_AFTER, gracePeriod))
            state.socket.destroy();
        }
        await new Promise((resolve) => setTimeout(resolve, SWEEP_EVERY));
      }
      const left = inFlight;
      server.closeAllConnections();
      for (const state of connections) state.socket.destroy();
      return left;
    },
  };
}
