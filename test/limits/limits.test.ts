import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import {
  eventually,
  type HttpResult,
  type InProcessProxy,
  request,
  sleep,
  startProxy,
  startProxyProcess,
} from '../helpers/proxy.js';
import { createRawBackend, type RawBackend } from '../helpers/raw-backend.js';
import { waitFor } from '../helpers/wait.js';
import { assertEchoes } from '../helpers/websocket.js';

/**
 * limits.requests in our proxy (in process, a recording backend on port 0). Clients are told apart
 * by their loopback source address (127.0.0.2, 127.0.0.3…). 1r/m makes the counts exact on a
 * loaded machine: a minute's rate leaks 16 milli-requests a second, far from one request.
 */

const ONCE_A_MINUTE = { rate: '1r/m', burst: 2, nodelay: true };

/** `n` requests at once from `from`, their statuses sorted. */
async function burst(port: number, path: string, n: number, from: string): Promise<HttpResult[]> {
  const all = await Promise.all(
    Array.from({ length: n }, () => request(port, { path, localAddress: from, timeout: 30_000 })),
  );
  return all.sort((a, b) => a.status - b.status);
}

const statuses = (results: HttpResult[]) => results.map((r) => r.status);

describe('request rate limits (our proxy)', () => {
  let backend: RawBackend;
  let proxy: InProcessProxy;

  before(async () => {
    backend = await createRawBackend();
    proxy = await startProxy(null, {
      upstream: { servers: [{ address: backend.address }] },
      // Top level: every route without limits of its own, each with buckets of its own.
      limits: { requests: ONCE_A_MINUTE },
      routes: [
        { name: 'site' },
        { name: 'other', path: '/other/' },
        { name: 'free', path: '/free/', limits: { requests: null } },
        { name: 'paced', path: '/paced/', limits: { requests: { rate: '4r/s', burst: 2 } } },
        { name: 'slow', path: '/slow/', limits: { requests: { rate: '1r/s', burst: 3 } } },
        {
          name: 'keyed',
          path: '/keyed/',
          limits: { requests: { rate: '1r/m', burst: 0, nodelay: true, key: 'header:X-Api-Key' } },
        },
      ],
    });
  });
  after(async () => {
    await proxy?.close();
    await backend?.close();
  });

  test('a burst from one client: 1 + burst pass at once, the rest get 429 with Retry-After, and never reach the backend', async () => {
    const before = backend.requests.length;
    const results = await burst(proxy.port, '/', 7, '127.0.0.2');
    assert.deepEqual(statuses(results), [200, 200, 200, 429, 429, 429, 429]);
    for (const refused of results.slice(3)) {
      // 1r/m: the next request fits about 60 s after the burst filled (62.5 s for a whole request).
      const wait = Number(refused.headers['retry-after']);
      assert.ok(
        Number.isInteger(wait) && wait >= 1 && wait <= 63,
        `Retry-After ${refused.headers['retry-after']}`,
      );
      assert.match(refused.text, /429 Too Many Requests/);
      assert.ok(refused.headers['x-request-id']);
    }
    assert.equal(backend.requests.length - before, 3);
  });

  test('another client address has a bucket of its own', async () => {
    assert.deepEqual(statuses(await burst(proxy.port, '/', 4, '127.0.0.3')), [200, 200, 200, 429]);
  });

  test('each route inheriting the top-level limit counts on its own; `requests: null` turns it off', async () => {
    assert.deepEqual(statuses(await burst(proxy.port, '/other/x', 4, '127.0.0.2')), [200, 200, 200, 429]);
    assert.deepEqual(statuses(await burst(proxy.port, '/free/x', 12, '127.0.0.2')), Array(12).fill(200));
  });

  test('a header key: each key value its own bucket; a request without the header is not limited (nginx: empty key)', async () => {
    const send = (headers: Record<string, string>) =>
      request(proxy.port, { path: '/keyed/', headers, localAddress: '127.0.0.4' });
    assert.equal((await send({ 'X-Api-Key': 'alpha' })).status, 200);
    assert.equal((await send({ 'X-Api-Key': 'alpha' })).status, 429);
    assert.equal((await send({ 'X-Api-Key': 'beta' })).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await send({})).status, 200);
  });

  test('without nodelay the burst is delayed to the rate: the backend gets them 1/rate apart, none refused', async () => {
    const before = backend.requests.length;
    const results = await burst(proxy.port, '/paced/x', 3, '127.0.0.5');
    assert.deepEqual(statuses(results), [200, 200, 200]);
    const times = backend.requests.slice(before).map((r) => r.receivedAt);
    assert.equal(times.length, 3);
    // 4r/s: 250 ms apart however the three arrived. A lower bound only, with room for the jitter
    // between leaving the proxy and arriving whole at the backend (at once they would be ~0 apart).
    for (let i = 1; i < times.length; i++)
      assert.ok(
        times[i]! - times[i - 1]! >= 200,
        `forwarded ${Math.round(times[i]! - times[i - 1]!)} ms apart`,
      );
  });

  test('a client that leaves while delayed is not forwarded, and its wait is dropped', async () => {
    const before = backend.requests.length;
    const first = await request(proxy.port, { path: '/slow/a', localAddress: '127.0.0.6' });
    assert.equal(first.status, 200);
    // The second request of the same second waits about 1 s; the client hangs up meanwhile.
    const leaving = httpRequest({
      host: '127.0.0.1',
      port: proxy.port,
      path: '/slow/b',
      localAddress: '127.0.0.6',
      agent: false,
    });
    leaving.on('error', () => {});
    leaving.end();
    await waitFor('the request to wait out its delay', async () => proxy.server.limiter.delayed === 1);
    leaving.destroy();
    await waitFor('the wait to be dropped', async () => proxy.server.limiter.delayed === 0);
    // Past the delay it would have had: still only the first request reached the backend.
    await sleep(1_500);
    assert.deepEqual(
      backend.requests.slice(before).map((r) => r.target),
      ['/slow/a'],
    );
  });

  test('429s are counted in the metrics like every proxy-made answer', async () => {
    const metrics = await request(proxy.statusPort, { path: '/metrics' });
    const line = metrics.text
      .split('\n')
      .find((l) =>
        l.startsWith('gatehouse_requests_total{route="default",upstream="none",code_class="4xx"}'),
      );
    assert.ok(line, metrics.text.slice(0, 2000));
    // 429s: 4 + 1 + 1 from the burst tests, 1 from the header key; and the client that left (499).
    assert.equal(Number(line.split(' ').at(-1)), 8);
  });
});

describe('request rate limits at shutdown', () => {
  test('a request waiting out its delay is forwarded when the proxy drains, not cut', async (t) => {
    const backend = await createRawBackend();
    t.after(() => backend.close());
    const proxy = await startProxy(t, {
      upstream: { servers: [{ address: backend.address }] },
      // 1r/m: the second request would wait a minute.
      limits: { requests: { rate: '1r/m', burst: 1 } },
    });
    assert.equal((await request(proxy.port, { localAddress: '127.0.0.2' })).status, 200);
    const delayed = request(proxy.port, { path: '/delayed', localAddress: '127.0.0.2', timeout: 30_000 });
    assert.ok(await eventually(() => proxy.server.limiter.delayed === 1), 'the second request waits');
    await proxy.close();
    const answer = await delayed;
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.connection, 'close');
    assert.equal(backend.requests.at(-1)?.target, '/delayed');
  });
});

describe('request rate limits on WebSocket handshakes', () => {
  test('a handshake counts as a request of its route: over the limit it gets 429 with Retry-After, and so does HTTP after it', {
    timeout: 60_000,
  }, async (t) => {
    const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    t.after(
      () =>
        new Promise<void>((resolve) => {
          for (const client of echo.clients) client.terminate();
          echo.close(() => resolve());
        }),
    );
    await once(echo, 'listening');
    echo.on('connection', (socket) => socket.on('message', (data, binary) => socket.send(data, { binary })));
    const { port: echoPort } = echo.address() as AddressInfo;
    const proxy = await startProxy(t, {
      upstream: { servers: [{ address: `127.0.0.1:${echoPort}` }] },
      limits: { requests: { rate: '1r/m', burst: 1, nodelay: true } },
    });
    const open = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`, { localAddress: '127.0.0.2' });
    t.after(() => open.terminate());
    await once(open, 'open');
    await assertEchoes(open, 'within the limit');

    const second = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`, { localAddress: '127.0.0.2' });
    t.after(() => second.terminate());
    await once(second, 'open');

    const refused = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`, { localAddress: '127.0.0.2' });
    refused.on('error', () => {});
    const [, response] = (await once(refused, 'unexpected-response')) as [unknown, IncomingMessage];
    assert.equal(response.statusCode, 429);
    assert.ok(Number(response.headers['retry-after']) >= 1);
    response.resume();
    refused.terminate();

    assert.equal((await request(proxy.port, { localAddress: '127.0.0.2' })).status, 429);
    // Another client passes the limit (the WebSocket-only backend answers plain HTTP with 426).
    assert.equal((await request(proxy.port, { localAddress: '127.0.0.3' })).status, 426);
  });
});

describe('request rate limits across a reload (SIGHUP), in a real proxy process', () => {
  test('buckets are kept while a route keeps its limit, as nginx keeps a zone; a changed limit starts afresh', async (t) => {
    const backend = await createRawBackend();
    t.after(() => backend.close());
    const config = (rate: string, bodySize: string) => ({
      upstream: { servers: [{ address: backend.address }] },
      client_max_body_size: bodySize,
      routes: [{ name: 'site', limits: { requests: { rate, burst: 1, nodelay: true } } }],
    });
    const proxy = await startProxyProcess(t, { config: config('1r/m', '1m') });
    const from = '127.0.0.7';
    assert.deepEqual(statuses(await burst(proxy.port, '/', 3, from)), [200, 200, 429]);

    const reload = async (doc: Record<string, unknown>) => {
      proxy.writeConfig(doc);
      const mark = proxy.logs.length;
      proxy.signal('SIGHUP');
      await proxy.waitForLog((l) => l.msg === 'configuration reloaded', 10_000, mark);
    };
    // Another key changed, the route's limit not: its bucket is still spent.
    await reload(config('1r/m', '2m'));
    assert.deepEqual(statuses(await burst(proxy.port, '/', 2, from)), [429, 429]);
    assert.equal((await request(proxy.port, { path: '/', localAddress: '127.0.0.8' })).status, 200);

    // The limit changed: a new table, the client's bucket full again.
    await reload(config('2r/m', '2m'));
    assert.deepEqual(statuses(await burst(proxy.port, '/', 3, from)), [200, 200, 429]);
    assert.deepEqual(proxy.crashes(), []);
  });
});
