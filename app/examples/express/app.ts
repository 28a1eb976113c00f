import express, { type NextFunction, type Request, type Response } from 'express';
import type { GatewayApp } from '../../gateway.js';
import { createWebSocketEcho } from '../../site/websocket.js';
import { EARLY_HINTS, errorResponse, page, streamChunks, trustProxy } from '../shared.js';

/**
 * An Express 5 app served as it is by a gatehouse worker (routes: ../shared.ts):
 *   npx gatehouse worker --app dist/app/examples/express/app.js
 */
const app = express();
// req.ip and req.protocol from X-Forwarded-For/-Proto, believed from the proxy only, one hop.
app.set('trust proxy', trustProxy);

app.get('/', (_req, res) => {
  res.type('html').send(page('Express'));
});

app.get('/healthz', (_req, res) => {
  res.type('text').send('ok\n');
});

app.get('/whoami', (req, res) => {
  res.json({ framework: 'express', ip: req.ip, protocol: req.protocol, requestId: req.get('x-request-id') });
});

app.post('/api/greet', express.json(), (req, res) => {
  res.json({ framework: 'express', greeting: `Hello, ${String(req.body?.name ?? 'stranger')}!` });
});

app.post('/echo', (req, res) => {
  res.type(req.get('content-type') ?? 'application/octet-stream');
  req.pipe(res);
});

app.get('/stream', async (_req, res) => {
  res.type('text');
  for await (const chunk of streamChunks()) res.write(chunk);
  res.end();
});

app.get('/early-hints', (_req, res) => {
  res.writeEarlyHints(EARLY_HINTS);
  res.type('html').send(page('Express'));
});

app.get('/boom', () => {
  throw new Error('boom: thrown in an Express route');
});

// Express's own last-resort handler answers 500 without the request id; this one names it.
app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
  if (res.headersSent) return next(err);
  const { status, body } = errorResponse(err, req.get('x-request-id') ?? '');
  res.status(status).type('text').send(body);
});

// WebSockets (ws) on the worker's upgrade hook: Express itself has none.
const websocket = createWebSocketEcho({ path: '/ws', maxPayload: 1 << 20 });

export default { listener: app, upgrade: websocket.upgrade, close: websocket.close } satisfies GatewayApp;
