import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';

/** A WebSocket that ended without the soak asking it to: when, and why as the client saw it. */
export interface WebSocketDrop {
  at: number;
  reason: string;
}

export interface WebSocketReport {
  /** Connections opened (the first and every reconnect after a drop). */
  opened: number;
  /** Messages sent and echoed back unchanged. */
  echoed: number;
  drops: WebSocketDrop[];
  /** Opening handshakes that failed (the proxy answered something else, or nothing). */
  refused: WebSocketDrop[];
}

export interface WebSocketLoad {
  stop(): Promise<WebSocketReport>;
}

/** A message not echoed within this long counts as a drop (the connection is given up). */
const ECHO_TIMEOUT = 10_000;

/**
 * `clients` long-lived WebSockets to the sample site's /ws echo, each sending a message every
 * `interval` ms and checking the echo. A connection that closes or errors (a worker restarted under
 * it, a proxy reloaded) is a drop, recorded with its reason; the client connects again and goes on.
 */
export function startWebSocketLoad(url: string, clients: number, interval: number): WebSocketLoad {
  const report: WebSocketReport = { opened: 0, echoed: 0, drops: [], refused: [] };
  let stopping = false;

  /** One connection's life: resolves when it ended, with the drop it was (null: the soak stopped it). */
  function session(id: number): Promise<WebSocketDrop | null> {
    return new Promise((resolve) => {
      const ws = new WebSocket(url);
      let opened = false;
      let seq = 0;
      let expected: string | null = null;
      let echoTimer: NodeJS.Timeout | null = null;
      let sendTimer: NodeJS.Timeout | null = null;
      let settled = false;
      const end = (reason: string | null) => {
        if (settled) return;
        settled = true;
        if (echoTimer) clearTimeout(echoTimer);
        if (sendTimer) clearTimeout(sendTimer);
        ws.terminate();
        resolve(reason === null ? null : { at: Date.now(), reason });
      };
      const send = () => {
        if (stopping) return end(null);
        expected = `client ${id} message ${seq++}`;
        ws.send(expected);
        echoTimer = setTimeout(() => end(`no echo within ${ECHO_TIMEOUT} ms`), ECHO_TIMEOUT);
      };
      ws.on('open', () => {
        opened = true;
        report.opened++;
        send();
      });
      ws.on('message', (data) => {
        if (echoTimer) clearTimeout(echoTimer);
        if (String(data) !== expected) return end(`wrong echo: ${String(data).slice(0, 60)}`);
        report.echoed++;
        sendTimer = setTimeout(send, interval);
      });
      ws.on('unexpected-response', (_req, res) => {
        report.refused.push({ at: Date.now(), reason: `handshake answered ${res.statusCode}` });
        end(null);
      });
      ws.on('error', (err: NodeJS.ErrnoException) => {
        if (!opened) report.refused.push({ at: Date.now(), reason: `handshake: ${err.code ?? err.message}` });
        end(opened && !stopping ? `error ${err.code ?? err.message}` : null);
      });
      ws.on('close', (code, reason) => {
        end(stopping ? null : `closed ${code}${reason.length > 0 ? ` ${reason.toString()}` : ''}`);
      });
    });
  }

  async function client(id: number): Promise<void> {
    while (!stopping) {
      const drop = await session(id);
      if (drop) report.drops.push(drop);
      // Not a tight loop against a proxy that is not there.
      if (!stopping) await sleep(200);
    }
  }

  const running = Promise.all(Array.from({ length: clients }, (_, id) => client(id)));
  return {
    async stop() {
      stopping = true;
      await running;
      return report;
    },
  };
}
