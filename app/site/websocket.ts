import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { UpgradeHandler } from '../gateway.js';

export interface WebSocketEcho {
  upgrade: UpgradeHandler;
  /** Closes open echo sockets (1001 going away), so a stopping worker is not held open by them. */
  close(): Promise<void>;
}

/** A WebSocket echo on `path`: text comes back as text, binary as binary. */
export function createWebSocketEcho(options: { path: string | null; maxPayload: number }): WebSocketEcho {
  const { path, maxPayload } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload });

  return {
    upgrade: function upgradeWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer) {
      const pathname = (req.url ?? '/').split('?')[0];
      if (path === null || pathname !== path) return rejectUpgrade(socket, 404, 'Not Found');
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
        ws.on('error', () => ws.terminate());
      });
    },
    close() {
      for (const ws of wss.clients) ws.close(1001, 'going away');
      return new Promise((resolve) => wss.close(() => resolve()));
    },
  };
}

function rejectUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}
