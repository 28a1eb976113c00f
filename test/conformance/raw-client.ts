import { connect } from 'node:net';
import { head } from '../helpers/proxy.js';
import { type RawMessage, readMessage } from '../helpers/raw-backend.js';

export interface RawResponse extends RawMessage {
  status: number;
  /** Every byte the front sent back before the exchange ended. */
  raw: Buffer;
}

/** A request written byte for byte: lines joined with CRLF, the blank line, then the body. */
export function rawRequest(lines: readonly string[], body: string | Buffer = ''): Buffer {
  return Buffer.concat([Buffer.from(head(...lines), 'latin1'), Buffer.from(body)]);
}

/** A connection to the front whose request is written piece by piece, when the caller says. */
export interface OpenExchange {
  /** Writes bytes (queued until connected); resolves once written, or at once if the exchange ended. */
  write(bytes: Buffer | string): Promise<void>;
  /** Every byte the front has sent so far. */
  received(): Buffer;
  /** The response, as exchange() resolves it; the connection is closed once it settles. */
  response: Promise<RawResponse>;
}

/**
 * Opens a connection and reads one response (1xx skipped) while the caller writes the request. The
 * response resolves as soon as it is complete, or when the front closes; rejects on timeout with
 * what arrived. A write error (the front answered early and closed, as on 413) does not fail it.
 */
export function openExchange(
  port: number,
  options: { timeout?: number; method?: string } = {},
): OpenExchange {
  const { timeout = 10_000, method = 'GET' } = options;
  const socket = connect(port, '127.0.0.1');
  let raw = Buffer.alloc(0);
  let done = false;
  let settle: (error: Error | null, response?: RawResponse) => void = () => {};
  const response = new Promise<RawResponse>((resolve, reject) => {
    settle = (error, answer) => (answer ? resolve(answer) : reject(error));
  });
  const timer = setTimeout(
    () =>
      finish(
        new Error(
          `no complete response in ${timeout} ms; got ${JSON.stringify(raw.toString('latin1').slice(0, 300))}`,
        ),
      ),
    timeout,
  );

  function finish(error: Error | null, answer?: RawResponse): void {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.destroy();
    settle(error, answer);
  }

  function tryParse(closed: boolean): void {
    let at = 0;
    for (;;) {
      const rest = raw.subarray(at);
      let parsed: ReturnType<typeof readMessage>;
      try {
        // A 1xx, 204 or 304 head has no body (RFC 9110 §15.2, §15.3.5, §15.4.5), whatever its fields say.
        const bodiless = /^HTTP\/1\.[01] (1\d\d|204|304) /.test(rest.subarray(0, 16).toString('latin1'));
        parsed = readMessage(rest, { response: true, closed, noBody: method === 'HEAD' || bodiless });
      } catch (err) {
        finish(err as Error);
        return;
      }
      if (!parsed) {
        if (closed)
          finish(
            new Error(
              `connection closed before a complete response: ${JSON.stringify(rest.toString('latin1').slice(0, 300))}`,
            ),
          );
        return;
      }
      const status = Number(parsed.message.startLine.split(' ')[1]);
      if (status >= 100 && status < 200) {
        at += parsed.consumed;
        continue;
      }
      finish(null, { ...parsed.message, status, raw });
      return;
    }
  }

  socket.on('data', (chunk: Buffer) => {
    raw = Buffer.concat([raw, chunk]);
    tryParse(false);
  });
  socket.on('error', () => {});
  socket.on('close', () => tryParse(true));
  // A check that fails before it awaits the response must not also raise an unhandled rejection
  // when the front is stopped under it; whoever awaits the response still gets the error.
  response.catch(() => {});
  return {
    async write(bytes) {
      if (done || socket.destroyed) return;
      if (!socket.write(bytes)) {
        await new Promise<void>((resolve) => {
          socket.once('drain', resolve);
          socket.once('close', resolve);
        });
      }
    },
    received: () => raw,
    response,
  };
}

/**
 * Sends exact bytes on a new connection and reads one response (1xx skipped), as openExchange().
 */
export function exchange(
  port: number,
  request: Buffer | readonly Buffer[],
  options: { timeout?: number; method?: string } = {},
): Promise<RawResponse> {
  const open = openExchange(port, options);
  const parts = Buffer.isBuffer(request) ? [request] : request;
  void (async () => {
    for (const part of parts) await open.write(part);
  })();
  return open.response;
}
