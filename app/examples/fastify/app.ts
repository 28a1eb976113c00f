import { Readable } from 'node:stream';
import websocket from '@fastify/websocket';
import Fastify from 'fastify';
import type { GatewayApp } from '../../gateway.js';
import { EARLY_HINTS, errorResponse, page, streamChunks, trustProxy } from '../shared.js';

/**
 * A Fastify 5 app served as it is by a gatehouse worker (routes: ../shared.ts):
 *   npx gatehouse worker --app dist/app/examples/fastify/app.js
 * Fastify never listens here: the worker's server hands it each request (`fastify.routing`) and
 * each upgrade (on `fastify.server`, where @fastify/websocket waits for them).
 */
const fastify = Fastify({
  // request.ip and request.protocol from X-Forwarded-For/-Proto, believed from the proxy only, one hop.
  trustProxy,
  // request.id (and Fastify's log lines) carry the proxy's request id.
  requestIdHeader: 'x-request-id',
});

await fastify.register(websocket, {
  // A stopping worker says goodbye (1001 going away) on the sockets it still has.
  preClose(done) {
    for (const client of fastify.websocketServer.clients) client.close(1001, 'going away');
    done();
  },
});

fastify.get('/', (_request, reply) => {
  reply.type('text/html; charset=utf-8').send(page('Fastify'));
});

fastify.get('/healthz', () => 'ok\n');

fastify.get('/whoami', (request) => ({
  framework: 'fastify',
  ip: request.ip,
  protocol: request.protocol,
  requestId: request.id,
}));

fastify.post<{ Body: { name?: unknown } | null }>('/api/greet', (request) => ({
  framework: 'fastify',
  greeting: `Hello, ${String(request.body?.name ?? 'stranger')}!`,
}));

// Fastify parses text/plain itself; the echo sends the parsed text back as it came.
fastify.post('/echo', (request, reply) => {
  reply.type(request.headers['content-type'] ?? 'text/plain').send(request.body);
});

fastify.get('/stream', (_request, reply) => {
  reply.type('text/plain; charset=utf-8').send(Readable.from(streamChunks()));
});

fastify.get('/early-hints', (_request, reply) => {
  reply.writeEarlyHints(EARLY_HINTS);
  reply.type('text/html; charset=utf-8').send(page('Fastify'));
});

fastify.get('/boom', () => {
  throw new Error('boom: thrown in a Fastify route');
});

fastify.get('/ws', { websocket: true }, (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
});

fastify.setErrorHandler((error, request, reply) => {
  const { status, body } = errorResponse(error, request.id);
  reply.code(status).type('text/plain; charset=utf-8').send(body);
});

await fastify.ready();

export default {
  listener: fastify.routing,
  upgrade: (req, socket, head) => fastify.server.emit('upgrade', req, socket, head),
  close: () => fastify.close(),
} satisfies GatewayApp;
