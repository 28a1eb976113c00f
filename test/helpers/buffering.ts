import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cleanup, type ConfigDoc, type InProcessProxy, servers, startProxy } from './proxy.js';
import { type RawMessage, readMessage } from './raw-backend.js';

/** A fresh folder for buffering.temp_path (the proxy makes `buffers` inside it), removed after. */
export function tempFolder(cleanup: Cleanup): string {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-buffering-'));
  cleanup.after(() => rmSync(root, { recursive: true, force: true }));
  return join(root, 'buffers');
}

/** The temp files in `folder` now (none when it does not exist yet). */
export function tempFiles(folder: string): string[] {
  try {
    return readdirSync(folder).map((name) => join(folder, name));
  } catch {
    return [];
  }
}

/** Permission bits of a file or folder (0o600, 0o700). */
export function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

/** A client on a raw socket that writes when told and parses the one response it gets. */
export interface RawClient {
  socket: Socket;
  /** Resolves once the bytes were handed to the kernel. */
  write(data: string | Buffer): Promise<void>;
  /** The response, once complete (or rejects when the connection closes or resets before it). */
  response: Promise<RawMessage>;
}

export async function rawClient(port: number, cleanup: Cleanup): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  cleanup.after(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let received = Buffer.alloc(0);
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  // Where the message ends when the head has a Content-Length: parsed once, at that length (a
  // 32 MiB body re-joined and re-parsed per 64 KiB chunk took half a minute). Otherwise (chunked,
  // no head yet) each chunk is parsed as it comes.
  let end: number | null = null;
  const response = new Promise<RawMessage>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (end !== null && received.length + pendingBytes < end) return;
      received = Buffer.concat([received, ...pending]);
      pending.length = 0;
      pendingBytes = 0;
      if (end === null) {
        const headEnd = received.indexOf('\r\n\r\n');
        const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(
          received.subarray(0, headEnd).toString('latin1'),
        );
        if (headEnd >= 0 && length && !/^HTTP\/1\.[01] 1\d\d /.test(received.toString('latin1', 0, 16)))
          end = headEnd + 4 + Number(length[1]);
      }
      if (end !== null && received.length < end) return;
      const parsed = readMessage(received, { response: true });
      if (parsed) resolve(parsed.message);
    });
    socket.on('error', reject);
    socket.on('close', () =>
      reject(new Error(`closed before a whole response (${received.length + pendingBytes} bytes)`)),
    );
  });
  response.catch(() => {});
  return {
    socket,
    write: (data) =>
      new Promise<void>((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve()))),
    response,
  };
}

/** One chunk of a chunked body on the wire. */
export function chunk(data: string | Buffer): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]);
}

export const LAST_CHUNK = '0\r\n\r\n';

/** A proxy in front of the worker at `port`, its temp files in a fresh folder (tempFiles(folder)). */
export async function proxyWithTempFolder(
  t: Cleanup,
  port: number,
  buffering: ConfigDoc = {},
  overrides: ConfigDoc = {},
): Promise<{ proxy: InProcessProxy; folder: string }> {
  const folder = tempFolder(t);
  const proxy = await startProxy(t, {
    upstream: { servers: servers(port) },
    ...overrides,
    buffering: { temp_path: folder, ...buffering },
  });
  return { proxy, folder };
}
