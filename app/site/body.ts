import { badRequest, bodyTooLarge } from './http-error.js';

/**
 * Throws 413 when the declared Content-Length is over the limit, before a byte is read; a client
 * that sends the length up front learns at once.
 */
export function checkDeclaredLength(request: Request, limit: number): void {
  const declared = request.headers.get('content-length');
  if (declared === null) return;
  if (!/^\d+$/.test(declared)) throw badRequest('The Content-Length header is not a number.');
  if (Number(declared) > limit) throw bodyTooLarge(limit);
}

/** The whole body, at most `limit` bytes; a chunked body is counted as it arrives and cut off at the limit. */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  checkDeclaredLength(request, limit);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      // Not cancel(): under the worker that destroys the socket before the 413 can be written.
      reader.releaseLock();
      throw bodyTooLarge(limit);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** Passes a body through unbuffered, and errors the stream once more than `limit` bytes went by. */
export function limitBody(limit: number): TransformStream<Uint8Array, Uint8Array> {
  let size = 0;
  return new TransformStream({
    transform(chunk, controller) {
      size += chunk.byteLength;
      if (size > limit) controller.error(bodyTooLarge(limit));
      else controller.enqueue(chunk);
    },
  });
}
