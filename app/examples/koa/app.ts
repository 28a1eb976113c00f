import { Readable } from 'node:stream';
import Router from '@koa/router';
import Koa from 'koa';
import type { GatewayApp } from '../../gateway.js';
import { createWebSocketEcho } from '../../site/websocket.js';
import { errorResponse, PROXY_ADDRESS, page, streamChunks } from '../shared.js';

/**
 * A Koa 3 app (with @koa/router) served as it is by a gatehouse worker (routes: ../shared.ts):
 *   npx gatehouse worker --app dist/app/examples/koa/app.js
 */
// ctx.ip from the last X-Forwarded-For entry (the one the proxy appended), ctx.protocol from
// X-Forwarded-Proto. Koa believes them from any peer; the first middleware below keeps them from
// anyone but the proxy.
const app = new Koa({ proxy: true, maxIpsCount: 1 });
const router = new Router();

app.use(async (ctx, next) => {
  if (ctx.req.socket.remoteAddress !== PROXY_ADDRESS) {
    for (const name of ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'])
      delete ctx.req.headers[name];
  }
  try {
    await next();
  } catch (err) {
    // Koa's own handler answers 500 without the request id; this one names it.
    const { status, body } = errorResponse(err, ctx.get('x-request-id'));
    ctx.status = status;
    ctx.type = 'text/plain';
    ctx.body = body;
  }
});

router.get('/', (ctx) => {
  ctx.type = 'html';
  ctx.body = page('Koa');
});

router.get('/healthz', (ctx) => {
  ctx.body = 'ok\n';
});

router.get('/whoami', (ctx) => {
  ctx.body = { framework: 'koa', ip: ctx.ip, protocol: ctx.protocol, requestId: ctx.get('x-request-id') };
});

router.post('/api/greet', async (ctx) => {
  const body = (await readJson(ctx.req, (status, message) => ctx.throw(status, message))) as {
    name?: unknown;
  } | null;
  ctx.body = { framework: 'koa', greeting: `Hello, ${String(body?.name ?? 'stranger')}!` };
});

router.post('/echo', (ctx) => {
  ctx.type = ctx.get('content-type') || 'application/octet-stream';
  ctx.body = ctx.req;
});

router.get('/stream', (ctx) => {
  ctx.type = 'text/plain';
  ctx.body = Readable.from(streamChunks());
});

router.get('/boom', () => {
  throw new Error('boom: thrown in a Koa route');
});

app.use(router.routes()).use(router.allowedMethods());

/** Koa parses no bodies itself (@koa/bodyparser would); a small JSON reader, up to 64 KiB. */
async function readJson(
  stream: AsyncIterable<Buffer>,
  fail: (status: number, message: string) => never,
): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > 65_536) fail(413, 'body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return fail(400, 'body is not JSON');
  }
}

// WebSockets (ws) on the worker's upgrade hook: Koa itself has none.
const websocket = createWebSocketEcho({ path: '/ws', maxPayload: 1 << 20 });

export default {
  listener: app.callback(),
  upgrade: websocket.upgrade,
  close: websocket.close,
} satisfies GatewayApp;
