import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import {
  head,
  type InProcessProxy,
  rawExchange,
  request,
  servers,
  sleep,
  startProxy,
} from '../helpers/proxy.js';
import { createRawBackend, headerValue, type RawBackend } from '../helpers/raw-backend.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';

/** A chunked body on the wire: each part one chunk, then the last chunk. */
/** Settles as `promise` does, or rejects with `what` after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function chunked(...parts: string[]): string {
  return parts.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n';
}

describe('request limits and malformed requests', () => {
  let backend: RawBackend;
  let proxy: InProcessProxy;
  before(async () => {
    backend = await createRawBackend({ name: 'backend' });
    proxy = await startProxy(null, {
      upstream: { servers: servers(backend.port) },
      client_max_body_size: '1k',
      client_max_header_size: '8k',
    });
  });
  after(async () => {
    await proxy?.close();
    await backend?.close();
  });

  test('a Content-Length over client_max_body_size → 413, and the worker is never contacted', async () => {
    const connectionsBefore = backend.connections;
    const reply = await rawExchange(
      proxy.port,
      head('POST /upload HTTP/1.1', 'Host: a', 'Content-Length: 2048') + 'x'.repeat(2048),
      { untilResponse: true },
    );
    assert.equal(reply.status, 413, reply.text);
    assert.match(reply.text, /413 Content Too Large/);
    assert.equal(backend.connections, connectionsBefore, 'the proxy connected to the worker');
    assert.ok(!backend.requests.some((r) => r.target === '/upload'));
  });

  test('a Content-Length exactly at the limit is forwarded', async () => {
    const reply = await request(proxy.port, { method: 'POST', path: '/at-limit', body: 'y'.repeat(1024) });
    assert.equal(reply.status, 200);
    assert.equal(backend.requests.find((r) => r.target === '/at-limit')?.body.length, 1024);
  });

  test('a chunked body growing over the limit → 413, and no complete request reaches the worker', async () => {
    const reply = await rawExchange(
      proxy.port,
      [
        head('POST /chunked-upload HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked'),
        `400\r\n${'a'.repeat(1024)}\r\n`,
        `400\r\n${'b'.repeat(1024)}\r\n`,
        '0\r\n\r\n',
      ],
      { gap: 50, untilResponse: true },
    );
    assert.equal(reply.status, 413, reply.text);
    // The upload may have started upstream; once the proxy has closed that connection nothing more
    // of it can arrive, so what the worker holds then is final.
    const carried = backend.received.findIndex((bytes) => bytes.includes('POST /chunked-upload'));
    if (carried >= 0)
      await withTimeout(backend.connectionClosed(carried + 1), 10_000, 'the upstream connection stayed open');
    assert.ok(
      !backend.requests.some((r) => r.target === '/chunked-upload'),
      'the worker got the whole request',
    );
  });

  test('Expect: 100-continue with a body over the limit gets 413 and no 100 Continue', async () => {
    const reply = await rawExchange(
      proxy.port,
      head('POST /expect HTTP/1.1', 'Host: a', 'Content-Length: 4096', 'Expect: 100-continue'),
      { untilResponse: true },
    );
    assert.equal(reply.status, 413, reply.text);
    assert.doesNotMatch(reply.text, /100 Continue/);
  });

  test('Expect: 100-continue within the limit gets 100 Continue; the worker never sees Expect', async () => {
    const reply = await rawExchange(
      proxy.port,
      [head('POST /continue HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Expect: 100-continue'), 'hello'],
      { gap: 300, untilResponse: true },
    );
    assert.match(reply.text, /^HTTP\/1\.1 100 Continue\r\n/);
    assert.match(reply.text, /HTTP\/1\.1 200 /);
    const received = backend.requests.find((r) => r.target === '/continue');
    assert.equal(received?.body.toString(), 'hello');
    assert.equal(headerValue(received!, 'expect'), undefined);
  });

  test('request headers over client_max_header_size → 431', async () => {
    const reply = await rawExchange(
      proxy.port,
      head('GET / HTTP/1.1', 'Host: a', `X-Big: ${'z'.repeat(10 * 1024)}`),
      { untilResponse: true },
    );
    assert.equal(reply.status, 431, reply.text.slice(0, 200));
  });

  test('a garbage request line → 400', async () => {
    const reply = await rawExchange(proxy.port, 'THIS IS NOT HTTP\r\n\r\n', { untilResponse: true });
    assert.equal(reply.status, 400, reply.text);
    assert.match(reply.text, /400 Bad Request/);
  });

  test('a header line without a colon → 400', async () => {
    const reply = await rawExchange(proxy.port, head('GET / HTTP/1.1', 'Host: a', 'NoColonHere'), {
      untilResponse: true,
    });
    assert.equal(reply.status, 400);
  });

  test('Content-Length together with Transfer-Encoding → 400 (no smuggling)', async () => {
    const reply = await rawExchange(
      proxy.port,
      head('POST /both HTTP/1.1', 'Host: a', 'Content-Length: 5', 'Transfer-Encoding: chunked') +
        chunked('hello'),
      { untilResponse: true },
    );
    assert.equal(reply.status, 400);
    assert.ok(!backend.requests.some((r) => r.target === '/both'));
  });

  test('a chunked POST body reaches the worker complete and framed', async () => {
    const parts = ['first-', 'second-', 'third'];
    const reply = await rawExchange(
      proxy.port,
      [head('POST /chunks HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked'), chunked(...parts)],
      { untilResponse: true },
    );
    assert.equal(reply.status, 200, reply.text);
    const received = backend.requests.find((r) => r.target === '/chunks');
    assert.ok(received, 'the worker never got a complete request');
    assert.equal(received.body.toString(), parts.join(''));
  });

  test('a chunked body sent in pieces reaches the worker complete', async () => {
    const reply = await rawExchange(
      proxy.port,
      [
        head('POST /pieces HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked'),
        '5\r\nhello\r\n',
        '6\r\n world\r\n',
        '0\r\n\r\n',
      ],
      { gap: 100, untilResponse: true },
    );
    assert.equal(reply.status, 200, reply.text);
    const received = backend.requests.find((r) => r.target === '/pieces');
    assert.equal(received?.body.toString(), 'hello world');
  });

  for (const method of ['GET', 'DELETE', 'OPTIONS']) {
    test(`a ${method} with a chunked body is never sent unframed (one request upstream, body intact)`, async () => {
      const target = `/framed-${method.toLowerCase()}`;
      const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n';
      const reply = await rawExchange(
        proxy.port,
        head(`${method} ${target} HTTP/1.1`, 'Host: a', 'Transfer-Encoding: chunked') + chunked(smuggled),
        { untilResponse: true },
      );
      assert.equal(reply.status, 200, reply.text);
      // The worker answered only after it parsed the whole message: if the smuggled bytes are that
      // message's body, they cannot also be a request of their own (no waiting needed to know).
      const received = backend.requests.find((r) => r.target === target);
      assert.ok(received);
      assert.equal(received.body.toString(), smuggled);
      assert.ok(
        !backend.requests.some((r) => r.target === '/smuggled'),
        'a request was smuggled to the worker',
      );
      assert.ok(
        headerValue(received, 'content-length') === String(smuggled.length) ||
          /chunked/i.test(headerValue(received, 'transfer-encoding') ?? ''),
        'the upstream request carries framing for its body',
      );
    });
  }
});

describe('chunked uploads through a real worker', () => {
  let worker: WorkerProcess;
  let proxy: InProcessProxy;
  before(async () => {
    worker = await startWorker();
    proxy = await startProxy(null, { upstream: { servers: servers(worker.port) } });
  });
  after(async () => {
    await proxy?.close();
    await worker?.stop();
  });

  test('POST /echo with a chunked body streamed in several writes comes back whole', async () => {
    const parts = Array.from({ length: 8 }, (_, i) => `part-${i}-${'x'.repeat(1000)}|`);
    const echoed = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: proxy.port, method: 'POST', path: '/echo', agent: false },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve(text));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      (async () => {
        for (const part of parts) {
          req.write(part);
          await sleep(20);
        }
        req.end();
      })().catch(reject);
    });
    assert.equal(echoed.length, parts.join('').length);
    assert.equal(echoed, parts.join(''));
  });
});
