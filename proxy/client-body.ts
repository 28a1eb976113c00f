import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** How the client framed its body, read before the prologue removes Transfer-Encoding. */
export interface BodyFraming {
  contentLength: string | undefined;
  chunked: boolean;
}

export function bodyFraming(headers: IncomingHttpHeaders): BodyFraming {
  // As the client sent it (Node has checked it: CL with TE, or two CLs, never get here).
  return { contentLength: headers['content-length'], chunked: headers['transfer-encoding'] !== undefined };
}

export function hasBody(framing: BodyFraming): boolean {
  return framing.chunked || (framing.contentLength !== undefined && framing.contentLength !== '0');
}

/** client_body_timeout while the body is read: `onTimeout` when the client stalls that long. */
export function watchClientBody(req: IncomingMessage, timeout: number, onTimeout: () => void): void {
  if (timeout <= 0) return;
  const onIdle = () => {
    if (!req.complete) onTimeout();
  };
  // On the request, not the socket: Node's server destroys a timed-out socket unless the
  // request (or response) listens for the timeout.
  req.setTimeout(timeout, onIdle);
  // The socket outlives the request (keep-alive): take the timer off again.
  // On the request again: over h2 it is the stream's timer (the session's would be the socket's).
  const clear = () => {
    req.setTimeout(0);
    req.removeListener('timeout', onIdle);
  };
  req.once('end', clear);
  req.once('close', clear);
}

/**
 * For a body of unknown length (chunked), client_max_body_size is enforced while it streams.
 * Attached only when the body starts flowing to an upstream: a 'data' listener would start
 * the flow itself and lose chunks before the upstream socket is ready.
 */
export function limitStreamedBody(req: IncomingMessage, limit: number, onOver: () => void): void {
  let received = 0;
  req.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) onOver();
  });
}

/** How long, and how much, of an unwanted request body is read after an early answer. */
const LINGER_MS = 5000;
const LINGER_BYTES = 64 * 1024 * 1024;

/**
 * nginx's lingering close: after answering early (413, 408, an upstream error) while the client
 * is still sending, read and discard its body. Closing at once would reset the connection and the
 * client would see a broken pipe instead of the answer. A body that does not end within
 * LINGER_MS, or is larger than LINGER_BYTES, gets the connection closed.
 */
export function lingerThenClose(req: IncomingMessage): void {
  const socket = req.socket;
  let discarded = 0;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > LINGER_BYTES) socket.destroy();
  });
  // Drained in time: the connection stays open for the client's next request (the answer said
  // keep-alive), as the client may already be writing it.
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
