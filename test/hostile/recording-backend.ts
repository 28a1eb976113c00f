import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { listenLocal } from '../helpers/net.js';

/**
 * A worker for the fuzzer: Node's own HTTP parser (a second, independent reading of what the proxy
 * forwarded), records the target of every request it receives — upgrades and CONNECT included —
 * and answers 200 with `X-Seen: <target>`, so a client can tell which request an answer is for.
 * Only the smuggled targets are kept one by one (a long run sends millions of the others).
 */
export interface RecordingBackend {
  port: number;
  /**
   * Every /smuggled/… target received, and whether it came as the proxy frames a request of its own
   * (with the X-Request-Id the proxy adds): one without it is bytes the proxy sent as another
   * request's body, which the worker read as a request — a desync.
   */
  readonly smuggled: ReadonlyMap<string, { count: number; framedByProxy: boolean }>;
  /** Requests received in all. */
  readonly requests: number;
  /** Bytes from the proxy that this backend's parser refused (the proxy sent something broken). */
  readonly parseErrors: number;
  close(): Promise<void>;
}

/**
 * The X-Seen value for a request: its smuggled path, else the start of its target (a long target
 * echoed whole would make the answer's head too large for the proxy); encoded, as a target may
 * hold bytes a header value may not.
 */
const seenValue = (seen: string) => encodeURIComponent(seen.slice(0, 200));

export async function createRecordingBackend(): Promise<RecordingBackend> {
  const smuggled = new Map<string, { count: number; framedByProxy: boolean }>();
  let requests = 0;
  let parseErrors = 0;

  /** Counts the request, records it when smuggled; what its answer's X-Seen says. */
  function record(req: IncomingMessage): string {
    requests++;
    const target = req.url ?? '';
    const at = target.indexOf('/smuggled/');
    if (at < 0) return target;
    // The path as generated: an absolute-form target or a query around it does not hide it.
    const path = /^\/smuggled\/[0-9]+-[0-9]+/.exec(target.slice(at))?.[0] ?? target;
    const framedByProxy = req.headers['x-request-id'] !== undefined;
    const seen = smuggled.get(path);
    smuggled.set(path, {
      count: (seen?.count ?? 0) + 1,
      framedByProxy: framedByProxy && (seen?.framedByProxy ?? true),
    });
    return path;
  }

  // A larger head limit than the proxy's: a head the proxy let through (plus the headers it adds)
  // is never refused here, so every 431 is the proxy's own and a refusal here means a broken head.
  const server: Server = createServer(
    { keepAliveTimeout: 30_000, maxHeaderSize: 1024 * 1024 },
    (req, res) => {
      const target = record(req);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, {
          'Content-Type': 'text/plain',
          'X-Seen': seenValue(target),
          'Content-Length': 3,
        });
        res.end('ok\n');
      });
    },
  );
  // An upgrade or CONNECT is refused with a plain answer: the proxy must pass that on as an answer.
  const refuse = (req: IncomingMessage, socket: Duplex) => {
    const target = record(req);
    socket.on('error', () => {});
    socket.end(
      `HTTP/1.1 200 OK\r\nX-Seen: ${seenValue(target)}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n`,
    );
  };
  server.on('upgrade', refuse);
  server.on('connect', refuse);
  server.on('clientError', (_err, socket) => {
    parseErrors++;
    socket.destroy();
  });
  const port = await listenLocal(server);
  return {
    port,
    smuggled,
    get requests() {
      return requests;
    },
    get parseErrors() {
      return parseErrors;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
