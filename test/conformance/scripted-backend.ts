import { createServer, type Socket } from 'node:net';
import { listenLocal } from '../helpers/net.js';
import { readMessage } from '../helpers/raw-backend.js';

/**
 * A backend whose answer is a script run on the raw socket, for answers the recording backend cannot
 * give: a body written in parts, waiting on the test between them, and knowing when the last byte
 * was handed to the kernel (the worker is free) — what buffering is about.
 */
export interface ScriptedBackend {
  /** "127.0.0.1:port", as a config's upstream server address. */
  address: string;
  /** TCP connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Writes bytes; resolves once they are handed to the kernel (a write's callback), or on error. */
export function written(socket: Socket, bytes: Buffer | string): Promise<void> {
  return new Promise((resolve) => {
    socket.write(bytes, () => resolve());
  });
}

/**
 * Runs `script` with the socket once a request head (and any Content-Length body) has arrived.
 * One request per connection is all a case needs; further bytes are ignored.
 */
export async function createScriptedBackend(
  script: (socket: Socket, requestHead: string) => Promise<void>,
): Promise<ScriptedBackend> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let pending = Buffer.alloc(0);
    let started = false;
    socket.on('data', (chunk: Buffer) => {
      if (started) return;
      pending = Buffer.concat([pending, chunk]);
      const parsed = readMessage(pending);
      if (!parsed) return;
      started = true;
      script(socket, parsed.message.head).catch(() => socket.destroy());
    });
  });
  const port = await listenLocal(server);
  return {
    address: `127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
