import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, test } from 'node:test';
import { request, servers, startProxy } from '../helpers/proxy.js';

/**
 * A keep-alive upstream that can start "draining" the way a gatehouse worker does: from then on
 * every response says Connection: close, and idle connections stay open (the worker closes them
 * only after 2 s idle — the moment a request written into one of them would be lost).
 */
async function startDrainableUpstream() {
  const connectionIds = new Map<Socket, number>();
  const seen: Array<{ path: string; connection: number }> = [];
  let draining = false;
  let delay = 0;
  const server = createServer({ keepAliveTimeout: 60_000 }, (req: IncomingMessage, res: ServerResponse) => {
    seen.push({ path: req.url ?? '', connection: connectionIds.get(req.socket) ?? -1 });
    req.resume();
    req.on('end', () => {
      if (draining) res.shouldKeepAlive = false;
      setTimeout(() => res.end('ok'), delay);
    });
  });
  server.on('connection', (socket: Socket) => connectionIds.set(socket, connectionIds.size + 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    /** Connections opened so far (ids 1..n). */
    get connections() {
      return connectionIds.size;
    },
    setDelay(ms: number) {
      delay = ms;
    },
    drain() {
      draining = true;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe("an upstream's Connection: close retires the connections opened before it", () => {
  test('after the first close, no request (POSTs included) goes on an older pooled connection', async (t) => {
    const upstream = await startDrainableUpstream();
    t.after(() => upstream.close());
    const proxy = await startProxy(t, { upstream: { servers: servers(upstream.port) } });

    // Three requests at once leave three idle connections in the proxy's pool.
    upstream.setDelay(100);
    const warm = await Promise.all([1, 2, 3].map((n) => request(proxy.port, { path: `/warm/${n}` })));
    assert.deepEqual(
      warm.map((r) => r.status),
      [200, 200, 200],
    );
    upstream.setDelay(0);
    const pooled = upstream.connections;
    assert.equal(pooled, 3, 'the warm-up should have opened three upstream connections');

    upstream.drain();
    const first = await request(proxy.port, { path: '/first-after-drain' });
    assert.equal(first.status, 200);

    // Three at once, so they need three connections: the pool would hand out its idle ones.
    upstream.setDelay(100);
    const posts = await Promise.all(
      [1, 2, 3].map((n) =>
        request(proxy.port, { method: 'POST', path: `/post/${n}`, body: 'x'.repeat(100) }),
      ),
    );
    assert.deepEqual(
      posts.map((r) => r.status),
      [200, 200, 200],
    );
    const after = upstream.seen.filter((r) => r.path.startsWith('/post/'));
    assert.equal(after.length, 3);
    for (const { path, connection } of after) {
      assert.ok(
        connection > pooled,
        `${path} went on pooled connection ${connection}, opened before the upstream said close`,
      );
    }
  });

  test('an upstream that never says close keeps its connections (no renewal on ordinary responses)', async (t) => {
    const upstream = await startDrainableUpstream();
    t.after(() => upstream.close());
    const proxy = await startProxy(t, { upstream: { servers: servers(upstream.port) } });
    for (let i = 0; i < 20; i++) assert.equal((await request(proxy.port, { path: `/n/${i}` })).status, 200);
    assert.equal(upstream.connections, 1);
  });
});
