import { connect, type Socket } from 'node:net';

/**
 * Slow clients on raw sockets, for the buffering proof (test/buffering/) and the bench's
 * --slow-clients: an uploader that drips its body, and a reader that takes a response at a fixed
 * rate. Raw sockets, because an HTTP client library reads as fast as it can and hides the pacing.
 */

export interface SlowUpload {
  /** When the whole response had arrived (Date.now), and its status; null if cut or cancelled. */
  done: Promise<{ at: number; status: number } | null>;
  cancel(): void;
}

export interface SlowUploadOptions {
  path?: string;
  /** Body size in bytes. */
  bytes: number;
  /** Bytes sent per tick. */
  chunk: number;
  /**
   * ms between chunks. The first goes with the head: a front that streams sends the head on only
   * with the first body bytes (Node's client request does), and the worker must see it at once.
   */
  every: number;
  host?: string;
}

/** POSTs `bytes` in `chunk`s, one every `every` ms, with a Content-Length, and reads the answer. */
export function slowUpload(port: number, options: SlowUploadOptions): SlowUpload {
  const { path = '/echo', bytes, chunk, every, host = '127.0.0.1' } = options;
  const socket = connect(port, host);
  let timer: NodeJS.Timeout | undefined;
  let answer = '';
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => {
    // Only the status line is kept: the body of an echo is as long as the upload.
    if (answer.length < 64) answer += text.slice(0, 64);
  });
  socket.on('error', () => {});
  socket.once('connect', () => {
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: slow.test\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Length: ${bytes}\r\nConnection: close\r\n\r\n`,
    );
    let sent = 0;
    const tick = () => {
      const size = Math.min(chunk, bytes - sent);
      socket.write(Buffer.alloc(size, 0x62));
      sent += size;
      if (sent >= bytes) clearInterval(timer);
    };
    tick();
    if (sent < bytes) timer = setInterval(tick, every);
  });
  // Connection: close: the front closes once the response is complete, so the end is the answer.
  const done = new Promise<{ at: number; status: number } | null>((resolve) => {
    socket.once('end', () => {
      const status = /^HTTP\/1\.[01] (\d{3}) /.exec(answer);
      resolve(status ? { at: Date.now(), status: Number(status[1]) } : null);
    });
    socket.once('close', () => resolve(null));
  });
  return {
    done,
    cancel() {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

export interface ThrottledDownload {
  /** Bytes read so far (head and body). */
  read(): number;
  /** Bytes the client had read at time `at` (Date.now). */
  readBy(at: number): number;
  /** Resolves once `bytes` were read (Date.now then), or null when the connection ended first. */
  reached(bytes: number): Promise<number | null>;
  cancel(): void;
}

/** GETs `path` and reads the response at `bytesPerSecond`, pausing the socket between reads. */
export function throttledDownload(
  port: number,
  path: string,
  bytesPerSecond: number,
  host = '127.0.0.1',
): ThrottledDownload {
  const socket: Socket = connect(port, host);
  const timeline: Array<[at: number, read: number]> = [];
  const waiters = new Set<{ bytes: number; resolve: (at: number | null) => void }>();
  let read = 0;
  let startedAt = 0;
  let timer: NodeJS.Timeout | undefined;
  socket.on('error', () => {});
  socket.once('connect', () => {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: slow.test\r\nConnection: close\r\n\r\n`);
  });
  socket.on('data', (chunk: Buffer) => {
    read += chunk.length;
    const now = Date.now();
    // The rate counts from the first byte: a response that waited (a busy worker) earns no burst.
    if (startedAt === 0) startedAt = now;
    timeline.push([now, read]);
    for (const waiter of waiters) {
      if (read < waiter.bytes) continue;
      waiters.delete(waiter);
      waiter.resolve(now);
    }
    // A token bucket: ahead of the rate, stop reading (the kernel buffers, then TCP pushes back)
    // until the rate has caught up.
    // One 64 KiB read ahead of the rate is allowed, or the first read would already be ahead.
    const allowed = ((now - startedAt) * bytesPerSecond) / 1000 + 64 * 1024;
    if (read > allowed) {
      socket.pause();
      timer = setTimeout(() => socket.resume(), Math.ceil(((read - allowed) * 1000) / bytesPerSecond));
    }
  });
  socket.once('close', () => {
    clearTimeout(timer);
    for (const waiter of waiters) waiter.resolve(null);
    waiters.clear();
  });
  return {
    read: () => read,
    readBy(at) {
      let bytes = 0;
      for (const [when, total] of timeline) {
        if (when > at) break;
        bytes = total;
      }
      return bytes;
    },
    reached(bytes) {
      if (read >= bytes) return Promise.resolve(timeline.find(([, total]) => total >= bytes)![0]);
      if (socket.destroyed) return Promise.resolve(null);
      return new Promise((resolve) => waiters.add({ bytes, resolve }));
    },
    cancel() {
      clearTimeout(timer);
      socket.destroy();
    },
  };
}
