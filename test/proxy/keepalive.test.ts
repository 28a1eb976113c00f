import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { describe, test } from 'node:test';
import {
  createCountingRelay,
  eventually,
  head,
  rawExchange,
  request,
  servers,
  sleep,
  startProxy,
} from '../helpers/proxy.js';
import { createRawBackend, headerValue } from '../helpers/raw-backend.js';
import { startWorker } from '../helpers/worker-process.js';

describe('upstream keep-alive (nginx keepalive + HTTP/1.1)', () => {
  test('100 sequential requests from a keep-alive client use at most 2 upstream connections', async (t) => {
    const backend = await createRawBackend({ name: 'a' });
    t.after(() => backend.close());
    const proxy = await startProxy(t, { upstream: { servers: servers(backend.port) } });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    for (let i = 0; i < 100; i++) {
      assert.equal(await getOn(proxy.port, `/n/${i}`, agent), 200);
    }
    assert.equal(backend.requests.length, 100);
    assert.ok(backend.connections <= 2, `${backend.connections} upstream connections for 100 requests`);
  });

  test('100 requests on 100 new client connections, each with Connection: close, reuse upstream connections', async (t) => {
    const backend = await createRawBackend({ name: 'a' });
    t.after(() => backend.close());
    const proxy = await startProxy(t, { upstream: { servers: servers(backend.port) } });
    for (let i = 0; i < 100; i++) {
      const reply = await request(proxy.port, { path: `/n/${i}`, headers: { Connection: 'close' } });
      assert.equal(reply.status, 200);
    }
    assert.equal(backend.requests.length, 100);
    assert.ok(backend.connections <= 2, `${backend.connections} upstream connections for 100 requests`);
    for (const received of backend.requests) {
      assert.notEqual(headerValue(received, 'connection')?.toLowerCase(), 'close');
    }
  });

  test("a client's Connection: close closes the client connection after the response", async (t) => {
    const backend = await createRawBackend({ name: 'a' });
    t.after(() => backend.close());
    const proxy = await startProxy(t, { upstream: { servers: servers(backend.port) } });
    // The wait only bounds a failure: the exchange ends when the proxy closes.
    const reply = await rawExchange(proxy.port, head('GET / HTTP/1.1', 'Host: a', 'Connection: close'), {
      wait: 15_000,
    });
    assert.equal(reply.status, 200);
    assert.match(reply.text, /\r\nConnection: close\r\n/i);
    assert.equal(reply.closed, true);
  });

  test('upstream requests are HTTP/1.1 without Connection: close', async (t) => {
    const backend = await createRawBackend({ name: 'a' });
    t.after(() => backend.close());
    const proxy = await startProxy(t, { upstream: { servers: servers(backend.port) } });
    await request(proxy.port, { path: '/x' });
    const [received] = backend.requests;
    assert.ok(received);
    assert.equal(received.startLine, 'GET /x HTTP/1.1');
    assert.doesNotMatch(headerValue(received, 'connection') ?? '', /close/i);
  });

  test("a backend's Connection: close does not close the client's connection", async (t) => {
    const backend = await createRawBackend({ name: 'a', answer: { close: true } });
    t.after(() => backend.close());
    const proxy = await startProxy(t, { upstream: { servers: servers(backend.port) } });
    // Three requests on one client connection, each backend answer saying close: all three are
    // answered on it, so it stayed open after the first and the second. (The exchange ends with the
    // third answer or with a close; the wait only bounds a failure.)
    const reply = await rawExchange(
      proxy.port,
      [
        head('GET /1 HTTP/1.1', 'Host: a'),
        head('GET /2 HTTP/1.1', 'Host: a'),
        head('GET /3 HTTP/1.1', 'Host: a'),
      ],
      { gap: 300, responses: 3, wait: 15_000 },
    );
    assert.equal(reply.text.match(/HTTP\/1\.1 200 /g)?.length, 3, reply.text);
    assert.doesNotMatch(reply.text, /^connection: close/im);
    assert.equal(reply.closed, false, 'the proxy closed the client connection');
  });

  test('keepalive 2: after a burst over two upstreams, 2 idle connections stay for the whole pool, the rest are closed', async (t) => {
    const a = await createRawBackend({ name: 'a', answer: { delay: 300 } });
    t.after(() => a.close());
    const b = await createRawBackend({ name: 'b', answer: { delay: 300 } });
    t.after(() => b.close());
    const proxy = await startProxy(t, { upstream: { servers: servers(a.port, b.port), keepalive: 2 } });
    // Eight at once: round robin gives each upstream four, each on a connection of its own.
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => request(proxy.port, { path: `/burst/${i}` })),
    );
    assert.deepEqual(
      replies.map((r) => r.status),
      Array(8).fill(200),
    );
    assert.equal(a.connections + b.connections, 8);
    // nginx's keepalive is per upstream block (our pool), not per server: 2 in all, not 2 each.
    await eventually(() => a.open + b.open <= 2, 3000);
    await sleep(300);
    assert.equal(a.open + b.open, 2, `${a.open} + ${b.open} upstream connections left open`);
  });

  test('with a real worker, 100 sequential requests open at most 2 upstream connections', async (t) => {
    const worker = await startWorker();
    t.after(() => worker.stop());
    // A TCP relay in front of the worker counts the connections the proxy opens.
    const relay = await createCountingRelay(worker.port);
    t.after(() => relay.close());
    const proxy = await startProxy(t, { upstream: { servers: servers(relay.port) } });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    for (let i = 0; i < 100; i++) assert.equal(await getOn(proxy.port, '/headers', agent), 200);
    assert.ok(relay.connections >= 1);
    assert.ok(relay.connections <= 2, `${relay.connections} upstream connections for 100 requests`);
  });
});

/** GET on a given agent; resolves the status once the body is read. */
function getOn(port: number, path: string, agent: Agent): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no response within 10 s')));
    req.on('error', reject);
  });
}
