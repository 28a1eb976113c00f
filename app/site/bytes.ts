import { badRequest } from './http-error.js';
import type { RouteHandler } from './router.js';

/** The largest /bytes/:n answer: big enough for buffering benches, small enough not to hurt. */
export const MAX_BYTES = 256 * 1024 * 1024;
const CHUNK = 64 * 1024;
// Never written to after this line, so every response may hand out views of it.
const FILLER = new Uint8Array(CHUNK).fill(0x61);

/**
 * GET /bytes/:n: n bytes ("aaa…"), with a Content-Length. Made chunk by chunk as the socket takes
 * them (pull() runs only when the writer wants more), so the worker is busy exactly as long as its
 * reader — the client, or a buffering proxy — makes it: what the buffering tests and bench measure.
 */
export const bytes: RouteHandler = (_request, params) => {
  if (!/^\d{1,10}$/.test(params.n!) || Number(params.n) > MAX_BYTES) {
    throw badRequest(`The size must be a whole number of bytes from 0 to ${MAX_BYTES}.`);
  }
  const total = Number(params.n);
  let left = total;
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (left === 0) {
          controller.close();
          return;
        }
        const size = Math.min(left, CHUNK);
        left -= size;
        controller.enqueue(size === CHUNK ? FILLER : FILLER.subarray(0, size));
      },
    },
    // No read-ahead beyond the chunk being written: backpressure reaches pull() at once.
    { highWaterMark: 0 },
  );
  return new Response(body, {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(total) },
  });
};
