import { setTimeout as sleep } from 'node:timers/promises';

/**
 * What the framework examples (express/, fastify/, koa/, hono/) have in common: the same routes,
 * the same trust rule, the same error page. Each example is one small real app of its framework,
 * served as it is by `gatehouse worker --app dist/app/examples/<framework>/app.js`:
 *
 *   GET  /              an HTML page
 *   GET  /whoami        JSON: the client address and scheme as the framework sees them
 *   POST /api/greet     JSON in ({ "name": ... }), JSON out; a body that is not JSON → 400
 *   POST /echo          the request body back, as it came (the load tests' POST)
 *   GET  /stream        a response written in several chunks, as they are made
 *   GET  /boom          throws: a 500 that names the request id
 *   GET  /early-hints   103 Early Hints (Link: preload), then 200 (Express and Fastify)
 *   GET  /ws            WebSocket echo
 *   GET  /healthz       "ok": the proxy's active health check (upstream.health.path) asks it
 */

/**
 * The address the gatehouse proxy connects to the workers from: loopback on one host. In
 * containers it is the proxy container's address (or the network's subnet).
 */
export const PROXY_ADDRESS = '127.0.0.1';

/**
 * Whom the framework believes (Express's `trust proxy`, Fastify's `trustProxy`): the peer that
 * connected (hop 0) when it is the proxy, and nothing beyond it. The proxy appends the address it
 * saw the client connect from to X-Forwarded-For, so the right-most entry is the real client; what
 * stands before it came from the client and is not believed. Trusting an address at any hop (the
 * frameworks' `'loopback'` or `'127.0.0.1'`) would also believe a spoofed entry from a client that
 * connects to the proxy from that same address.
 */
export function trustProxy(address: string, hop: number): boolean {
  return hop === 0 && address === PROXY_ADDRESS;
}

/** Early Hints: the stylesheet the page will need, sent before the page itself. */
export const EARLY_HINTS = { link: '</style.css>; rel=preload; as=style' };

export function page(framework: string): string {
  return `<!doctype html>\n<title>${framework} on gatehouse</title>\n<h1>Hello from ${framework}</h1>\n`;
}

/** The chunks of GET /stream, each made a moment after the previous one. */
export async function* streamChunks(count = 5): AsyncGenerator<string> {
  for (let i = 1; i <= count; i++) {
    if (i > 1) await sleep(5);
    yield `chunk ${i} of ${count}\n`;
  }
}

/**
 * The answer to an error a route threw: a client error (an `status`/`statusCode` of 4xx, as the
 * frameworks' body parsers set it) keeps its status and message; anything else is a 500 whose body
 * names the request id (the proxy's X-Request-Id, which the worker also logs and sends back), and
 * the error goes to stderr with that id, so a user's report leads to the stack trace.
 */
export function errorResponse(err: unknown, requestId: string): { status: number; body: string } {
  const { status, statusCode, message } = (err ?? {}) as {
    status?: unknown;
    statusCode?: unknown;
    message?: unknown;
  };
  const code = typeof status === 'number' ? status : typeof statusCode === 'number' ? statusCode : 500;
  if (code >= 400 && code < 500) return { status: code, body: `${String(message ?? 'Bad Request')}\n` };
  console.error(`request ${requestId} failed:`, err);
  return { status: 500, body: `Internal Server Error\nRequest id: ${requestId}\n` };
}
