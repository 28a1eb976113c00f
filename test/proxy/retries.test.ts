import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { closedPort, request, servers, startProxy } from '../helpers/proxy.js';
import { createRawBackend, type RawAnswer, type RawBackend } from '../helpers/raw-backend.js';

type Cleanup = { after(fn: () => unknown): void };

async function backend(
  t: Cleanup,
  name: string,
  answer: RawAnswer | (() => RawAnswer) = {},
): Promise<RawBackend> {
  const created = await createRawBackend({
    name,
    answer: typeof answer === 'function' ? () => answer() : answer,
  });
  t.after(() => created.close());
  return created;
}

describe('retries (nginx proxy_next_upstream error timeout)', () => {
  // Before any response byte reached the client, a worker dying after its head is no different.
  const failures: Array<[RawAnswer, string]> = [
    ['reset', 'a GET whose upstream resets before answering'],
    ['head-then-reset', 'a GET whose upstream sends its head and resets before any body byte'],
  ];
  for (const [answer, what] of failures) {
    test(`${what} is retried on the other upstream → 200`, async (t) => {
      const a = await backend(t, 'a', answer);
      const b = await backend(t, 'b');
      // Round robin starts with the first server: the failing one.
      const proxy = await startProxy(t, { upstream: { servers: servers(a.port, b.port) } });
      const reply = await request(proxy.port, { path: '/x' });
      assert.equal(reply.status, 200);
      assert.equal(reply.text, 'b\n');
      assert.equal(a.requests.length, 1);
      assert.equal(b.requests.length, 1);
    });
  }

  test('a POST whose upstream resets after receiving it is not re-sent: 502, the other upstream never sees it', async (t) => {
    const a = await backend(t, 'a', 'reset');
    const b = await backend(t, 'b');
    // max_fails 0 keeps the resetting upstream in rotation, so round robin sends POSTs to both.
    const proxy = await startProxy(t, { upstream: { servers: servers(a.port, b.port), max_fails: 0 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const reply = await request(proxy.port, { method: 'POST', path: `/p/${i}`, body: `payload-${i}` });
      statuses.push(reply.status);
      if (reply.status === 200) assert.equal(reply.text, 'b\n');
    }
    assert.equal(a.requests.length + b.requests.length, 4, 'every POST reached exactly one upstream');
    assert.equal(statuses.filter((s) => s === 502).length, a.requests.length);
    assert.ok(a.requests.length >= 1, 'round robin sent at least one POST to the resetting upstream');
    const targets = [...a.requests, ...b.requests].map((r) => r.target).sort();
    assert.deepEqual(targets, ['/p/0', '/p/1', '/p/2', '/p/3']);
  });

  test('a PATCH is not re-sent after a reset either', async (t) => {
    const a = await backend(t, 'a', 'reset');
    const b = await backend(t, 'b');
    const proxy = await startProxy(t, { upstream: { servers: servers(a.port, b.port), max_fails: 0 } });
    for (let i = 0; i < 2; i++) await request(proxy.port, { method: 'PATCH', path: '/x', body: 'p' });
    assert.equal(a.requests.length + b.requests.length, 2);
  });

  test('a refused connection is retried for a POST too, with its body intact', async (t) => {
    const refused = await closedPort();
    const b = await backend(t, 'b');
    const proxy = await startProxy(t, { upstream: { servers: servers(refused, b.port) } });
    const body = 'x'.repeat(10_000);
    const reply = await request(proxy.port, {
      method: 'POST',
      path: '/form',
      body,
      headers: { 'Content-Type': 'text/plain' },
    });
    assert.equal(reply.status, 200);
    assert.equal(b.requests.length, 1);
    assert.equal(b.requests[0]!.body.toString(), body);
  });

  test('next_upstream http_502: a GET answered 502 is tried on the other upstream', async (t) => {
    const a = await backend(t, 'a', { status: 502, body: 'bad gateway from a\n' });
    const b = await backend(t, 'b');
    const proxy = await startProxy(t, {
      upstream: { servers: servers(a.port, b.port) },
      retries: { next_upstream: ['error', 'timeout', 'http_502'] },
    });
    const reply = await request(proxy.port, { path: '/x' });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, 'b\n');
    assert.equal(a.requests.length, 1);
  });

  test('next_upstream http_502: a POST answered 502 is passed through, not re-sent', async (t) => {
    const a = await backend(t, 'a', { status: 502, body: 'bad gateway from a\n' });
    const b = await backend(t, 'b');
    const proxy = await startProxy(t, {
      upstream: { servers: servers(a.port, b.port), max_fails: 0 },
      retries: { next_upstream: ['error', 'timeout', 'http_502'] },
    });
    const texts: string[] = [];
    for (let i = 0; i < 2; i++)
      texts.push((await request(proxy.port, { method: 'POST', path: '/x', body: 'p' })).text);
    assert.equal(a.requests.length + b.requests.length, 2, 'no POST was sent twice');
    assert.ok(texts.includes('bad gateway from a\n'), 'the upstream 502 reached the client as it was');
  });

  test('without http_502 in next_upstream, an upstream 502 reaches the client as it is', async (t) => {
    const a = await backend(t, 'a', { status: 502, body: 'bad gateway from a\n' });
    const b = await backend(t, 'b');
    const proxy = await startProxy(t, { upstream: { servers: servers(a.port, b.port) } });
    const reply = await request(proxy.port, { path: '/x' });
    assert.equal(reply.status, 502);
    assert.equal(reply.text, 'bad gateway from a\n');
    assert.equal(b.requests.length, 0);
  });

  test('every upstream refusing → 502 with the error page', async (t) => {
    const proxy = await startProxy(t, {
      upstream: { servers: servers(await closedPort(), await closedPort()) },
    });
    const reply = await request(proxy.port, { path: '/' });
    assert.equal(reply.status, 502);
    assert.match(reply.headers['content-type'] ?? '', /text\/html/);
    assert.match(reply.text, /502 Bad Gateway/);
    assert.match(String(reply.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  test('the tries limit caps the attempts (tries: 2 over three resetting upstreams)', async (t) => {
    const list = [
      await backend(t, 'a', 'reset'),
      await backend(t, 'b', 'reset'),
      await backend(t, 'c', 'reset'),
    ];
    const proxy = await startProxy(t, {
      upstream: { servers: servers(...list.map((b) => b.port)) },
      retries: { tries: 2 },
    });
    const reply = await request(proxy.port, { path: '/x' });
    assert.equal(reply.status, 502);
    assert.equal(
      list.reduce((n, b) => n + b.requests.length, 0),
      2,
    );
  });

  test('a read timeout: a GET is tried on the other upstream, a POST gets 504 and is not re-sent', async (t) => {
    // The slow upstream never answers, so only the fast one's answer races the timer, with 1.5 s to spare.
    const slow = await backend(t, 'slow', 'silence');
    const fast = await backend(t, 'fast');
    const proxy = await startProxy(t, {
      upstream: { servers: servers(slow.port, fast.port), max_fails: 0 },
      timeouts: { read: '1500ms' },
    });
    const get = await request(proxy.port, { path: '/get' });
    assert.equal(get.status, 200);
    assert.equal(get.text, 'fast\n');
    // Round robin: the GET's retry moved the rotation on; POSTs until one lands on the slow upstream.
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++)
      statuses.push((await request(proxy.port, { method: 'POST', path: '/post', body: 'p' })).status);
    const posts = [...slow.requests, ...fast.requests].filter((r) => r.target === '/post');
    assert.equal(posts.length, 2, 'a POST was sent twice');
    assert.ok(statuses.includes(504), `statuses ${statuses}`);
  });

  test('a retry never goes back to an upstream this request already tried', async (t) => {
    let resetting = '';
    const answer = (name: string) => (): RawAnswer => (resetting === name ? 'reset' : {});
    const a = await backend(t, 'a', answer('a'));
    const b = await backend(t, 'b', answer('b'));
    // ip_hash keeps choosing the same upstream for one client; max_fails 0 keeps a failing one available.
    const proxy = await startProxy(t, {
      upstream: { servers: servers(a.port, b.port), balance: 'ip_hash', max_fails: 0 },
    });
    const first = await request(proxy.port, { path: '/which' });
    const sticky = first.text === 'a\n' ? a : b;
    resetting = sticky.name;
    const before = sticky.requests.length;
    const reply = await request(proxy.port, { path: '/x' });
    assert.equal(reply.status, 200);
    assert.equal(
      sticky.requests.length - before,
      1,
      `the failed upstream was tried ${sticky.requests.length - before} times`,
    );
  });

  test('a worker that sends its head and resets before any body byte: a POST gets 502, sent to that worker only', async (t) => {
    const a = await backend(t, 'a', 'head-then-reset');
    const b = await backend(t, 'b');
    const proxy = await startProxy(t, { upstream: { servers: servers(a.port, b.port) } });
    const reply = await request(proxy.port, { method: 'POST', path: '/p', body: 'payload' });
    assert.equal(reply.status, 502);
    assert.match(reply.text, /502 Bad Gateway/);
    assert.equal(a.requests.length, 1);
    assert.equal(b.requests.length, 0);
  });

  test('no retry once response bytes went to the client: the response is cut, the other upstream never sees it', async (t) => {
    // Sends the head and part of the body, then resets: once the client has the head, so the reset
    // cannot overtake those bytes on their way through the proxy (no guessed pause).
    let clientHasHead: () => void = () => {};
    const headArrived = new Promise<void>((resolve) => {
      clientHasHead = resolve;
    });
    const sockets = new Set<Socket>();
    const partial = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\npartial');
        void headArrived.then(() => socket.resetAndDestroy());
      });
    });
    await new Promise<void>((resolve) => partial.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      partial.close();
    });
    const port = (partial.address() as { port: number }).port;
    const b = await backend(t, 'b');
    const proxy = await startProxy(t, { upstream: { servers: servers(port, b.port) } });
    const cut = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: proxy.port, path: '/x', agent: false }, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('error', () => {});
        res.on('close', () =>
          res.complete
            ? reject(new Error(`the response came whole: ${body}`))
            : resolve({ status: res.statusCode ?? 0, body }),
        );
        clientHasHead();
      });
      req.setTimeout(10_000, () => req.destroy(new Error('no progress for 10 s')));
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(cut, { status: 200, body: 'partial' }, 'the head and the bytes that came, then the cut');
    assert.equal(b.requests.length, 0);
    // And the proxy still serves.
    const next = await request(proxy.port, { path: '/y' });
    assert.equal(next.status, 200);
  });
});
