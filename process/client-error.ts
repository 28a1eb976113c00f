import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

/** A request Node's parser rejected, as the process logs it. */
export interface ClientErrorInfo {
  code: string;
  status: number;
  reason: string;
}

export interface ClientErrorOptions {
  /** The complete raw HTTP response for a status (the socket never became a ServerResponse). */
  response(status: number): string;
  /** Told of every rejected request that still gets an answer. */
  onRejected?(info: ClientErrorInfo): void;
}

/**
 * The status for a request Node's HTTP parser rejected before it became a request: a head too
 * large → 431 (nginx: 400/494), a head not finished in time → 408, anything else malformed → 400.
 */
export function clientErrorStatus(code: string | undefined): number {
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'HPE_HEADERS_TIMEOUT' || code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return 400;
}

/**
 * Malformed requests never reach the request handler: the server answers them here and keeps
 * serving (without a listener Node would just destroy the socket). A peer that already went
 * away gets nothing.
 */
export function answerClientErrors(server: Server, options: ClientErrorOptions): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const code = err.code ?? '';
    const status = clientErrorStatus(code);
    options.onRejected?.({ code, status, reason: err.message });
    socket.end(options.response(status));
  });
}
