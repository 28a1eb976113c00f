import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import { createNodeWebSocket } from '@hono/node-ws';
import { type Context, Hono } from 'hono';
import type { GetConnInfo } from 'hono/conninfo';
import { HTTPException } from 'hono/http-exception';
import { streamText } from 'hono/streaming';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { GatewayApp, RequestContext } from '../../gateway.js';
import { errorResponse, PROXY_ADDRESS, page, streamChunks } from '../shared.js';

/**
 * A Hono 4 app served as it is by a gatehouse worker (routes: ../shared.ts): Hono apps are Fetch
 * handlers, the worker's own contract, so `app.fetch(request, context)` runs with `c.env` being the
 * worker's RequestContext (requestId, remoteAddress, worker).
 *   npx gatehouse worker --app dist/app/examples/hono/app.js
 */
const app = new Hono<{ Bindings: RequestContext }>();

/**
 * Hono's connection info on a gatehouse worker (what `getConnInfo` from hono/bun or
 * @hono/node-server is elsewhere; Hono's ipRestriction middleware takes it): the peer that connected.
 */
export const getConnInfo: GetConnInfo = (c) => ({
  remote: { address: (c.env as RequestContext).remoteAddress, addressType: undefined },
});

/**
 * The client's address and scheme: from the last X-Forwarded-For entry (the one the proxy appended)
 * and X-Forwarded-Proto when the peer is the proxy; else the peer itself. Hono has no trust setting.
 */
function client(c: Context<{ Bindings: RequestContext }>): { ip: string; protocol: string } {
  const peer = getConnInfo(c).remote.address ?? '';
  const last = (value: string | undefined) => value?.split(',').at(-1)?.trim() || undefined;
  const direct = { ip: peer, protocol: new URL(c.req.url).protocol.slice(0, -1) };
  if (peer !== PROXY_ADDRESS) return direct;
  return {
    ip: last(c.req.header('x-forwarded-for')) ?? direct.ip,
    protocol: last(c.req.header('x-forwarded-proto')) ?? direct.protocol,
  };
}

app.get('/', (c) => c.html(page('Hono')));

app.get('/healthz', (c) => c.text('ok\n'));

app.get('/whoami', (c) => c.json({ framework: 'hono', ...client(c), requestId: c.env.requestId }));

app.post('/api/greet', async (c) => {
  const body = await c.req.json<{ name?: unknown } | null>().catch(() => {
    throw new HTTPException(400, { message: 'body is not JSON' });
  });
  return c.json({ framework: 'hono', greeting: `Hello, ${String(body?.name ?? 'stranger')}!` });
});

// The request body streams straight back into the response.
app.post(
  '/echo',
  (c) =>
    new Response(c.req.raw.body, {
      headers: { 'content-type': c.req.header('content-type') ?? 'application/octet-stream' },
    }),
);

app.get('/stream', (c) =>
  streamText(c, async (stream) => {
    for await (const chunk of streamChunks()) await stream.write(chunk);
  }),
);

app.get('/boom', () => {
  throw new Error('boom: thrown in a Hono route');
});

// Hono's own handler answers 500 without the request id; this one names it.
app.onError((err, c) => {
  const { status, body } = errorResponse(err, c.env.requestId);
  return c.text(body, status as ContentfulStatusCode);
});

// WebSockets: @hono/node-ws waits for upgrades on a server's 'upgrade' event; the worker's
// upgrade hook emits them on a stand-in. Its route runs with @hono/node-ws's env ({ incoming }),
// not the RequestContext.
const upgrades = new EventEmitter();
const { injectWebSocket, upgradeWebSocket, wss } = createNodeWebSocket({ app });
app.get(
  '/ws',
  upgradeWebSocket(() => ({
    onMessage(event, ws) {
      ws.send(event.data as string | ArrayBuffer);
    },
  })),
);
injectWebSocket(upgrades as unknown as Server);

export default {
  fetch: app.fetch,
  upgrade: (req, socket, head) => upgrades.emit('upgrade', req, socket, head),
  close() {
    for (const ws of wss.clients) ws.close(1001, 'going away');
  },
} satisfies GatewayApp;
