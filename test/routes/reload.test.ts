import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request, startProxy, testConfig } from '../helpers/proxy.js';
import { createRawBackend } from '../helpers/raw-backend.js';

test('a reload swaps the route table: a new route and its pool answer, the pools it kept keep their upstreams', async (t) => {
  const [a, b] = await Promise.all([createRawBackend({ name: 'a' }), createRawBackend({ name: 'b' })]);
  t.after(() => Promise.all([a.close(), b.close()]));
  const base = { upstream: { servers: [{ address: a.address }] } };
  const proxy = await startProxy(t, { ...base, routes: [{ name: 'site' }] });
  const before = proxy.server.runtime.backends[0]!.pool.upstreams[0];
  assert.equal((await request(proxy.port, { path: '/b/x' })).status, 200);
  assert.equal(a.requests.at(-1)?.startLine, 'GET /b/x HTTP/1.1');

  proxy.server.reload(
    testConfig({
      ...base,
      routes: [
        { name: 'site' },
        { name: 'b', path: '/b/', strip_prefix: true, upstream: { servers: [{ address: b.address }] } },
      ],
    }),
  );
  assert.equal((await request(proxy.port, { path: '/b/x' })).status, 200);
  assert.equal(b.requests.at(-1)?.startLine, 'GET /x HTTP/1.1');
  assert.equal((await request(proxy.port, { path: '/other' })).status, 200);
  assert.equal(a.requests.at(-1)?.startLine, 'GET /other HTTP/1.1');
  assert.deepEqual(
    proxy.server.runtime.backends.map((backend) => backend.name),
    ['default', 'b'],
  );
  // The top-level pool's upstream is the same object: its live counters survived the reload.
  assert.equal(proxy.server.runtime.backends[0]!.pool.upstreams[0], before);
  assert.equal(before?.requests, 2);
});
