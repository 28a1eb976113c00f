import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import {
  closedPort,
  head,
  type InProcessProxy,
  json,
  proxyQuiet,
  rawExchange,
  request,
  servers,
  startProxy,
  workerHeaders,
} from '../helpers/proxy.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The JSON body of the first response in a raw exchange. */
function rawJson<T>(text: string): T {
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  // Chunked or not, the JSON object is the part between the outer braces.
  return JSON.parse(body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1)) as T;
}

let worker: WorkerProcess;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());

describe("untrusted clients (no trusted proxies): every forwarded header is the proxy's", () => {
  let proxy: InProcessProxy;
  before(async () => {
    proxy = await startProxy(null, { upstream: { servers: servers(worker.port) } });
  });
  after(() => proxy?.close());

  test('X-Real-IP is the peer address, not the value the client sent', async () => {
    const { headers } = await workerHeaders(proxy.port, { 'X-Real-IP': '198.51.100.9' });
    assert.equal(headers['x-real-ip'], '127.0.0.1');
  });

  test('X-Real-IP is the peer address even when the client sends X-Forwarded-For', async () => {
    const { headers } = await workerHeaders(proxy.port, {
      'X-Forwarded-For': '203.0.113.7',
      'X-Real-IP': '203.0.113.7',
    });
    assert.equal(headers['x-real-ip'], '127.0.0.1');
  });

  test('X-Forwarded-For is the peer address when the client sent none', async () => {
    const { headers } = await workerHeaders(proxy.port);
    assert.equal(headers['x-forwarded-for'], '127.0.0.1');
  });

  test('X-Forwarded-For is the client list with the peer appended, ", "-separated', async () => {
    const { headers } = await workerHeaders(proxy.port, { 'X-Forwarded-For': '203.0.113.7, 198.51.100.2' });
    assert.equal(headers['x-forwarded-for'], '203.0.113.7, 198.51.100.2, 127.0.0.1');
  });

  test('repeated X-Forwarded-For lines are joined first, then the peer appended', async () => {
    const reply = await rawExchange(
      proxy.port,
      head(
        'GET /headers HTTP/1.1',
        'Host: example.test',
        'X-Forwarded-For: 203.0.113.7',
        'X-Forwarded-For: 198.51.100.2',
        'Connection: close',
      ),
    );
    assert.equal(reply.status, 200, reply.text);
    const { headers } = rawJson<{ headers: Record<string, string> }>(reply.text);
    assert.equal(headers['x-forwarded-for'], '203.0.113.7, 198.51.100.2, 127.0.0.1');
  });

  test('X-Forwarded-Proto is http, whatever the client claimed', async () => {
    const { headers } = await workerHeaders(proxy.port, { 'X-Forwarded-Proto': 'https' });
    assert.equal(headers['x-forwarded-proto'], 'http');
  });

  test('X-Request-Id from a client is replaced by a fresh one, which the client gets back', async () => {
    const { headers, response } = await workerHeaders(proxy.port, { 'X-Request-Id': 'chosen-by-client' });
    assert.match(headers['x-request-id'] ?? '', UUID);
    assert.equal(response.headers['x-request-id'], headers['x-request-id']);
  });

  test('each request gets its own request id', async () => {
    const a = await workerHeaders(proxy.port);
    const b = await workerHeaders(proxy.port);
    assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
  });

  test("the client's Host header reaches the worker unchanged", async () => {
    const { headers } = await workerHeaders(proxy.port, { Host: 'client.example' });
    assert.equal(headers.host, 'client.example');
  });

  test('headers named in Connection cannot remove the headers the proxy sets', async () => {
    const { headers } = await workerHeaders(proxy.port, {
      Connection: 'X-Real-IP, X-Forwarded-For, X-Forwarded-Proto, X-Request-Id',
      'X-Real-IP': '198.51.100.9',
    });
    assert.equal(headers['x-real-ip'], '127.0.0.1');
    assert.equal(headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(headers['x-forwarded-proto'], 'http');
    assert.match(headers['x-request-id'] ?? '', UUID);
  });

  test('hop-by-hop request headers and headers named in Connection never reach the worker', async () => {
    // Written raw: Node's client refuses to send Trailer on a request without a chunked body.
    const reply = await rawExchange(
      proxy.port,
      head(
        'GET /headers HTTP/1.1',
        'Host: example.test',
        'Connection: close, X-Hop-Secret',
        'X-Hop-Secret: do-not-forward',
        'Keep-Alive: timeout=5',
        'TE: trailers',
        'Trailer: X-Checksum',
        'Proxy-Authorization: Basic Zm9vOmJhcg==',
        'Proxy-Connection: keep-alive',
        'X-End-To-End: kept',
      ),
      { untilResponse: true },
    );
    assert.equal(reply.status, 200, reply.text);
    const { headers } = rawJson<{ headers: Record<string, string> }>(reply.text);
    for (const name of [
      'x-hop-secret',
      'keep-alive',
      'te',
      'trailer',
      'proxy-authorization',
      'proxy-connection',
    ]) {
      assert.equal(headers[name], undefined, `${name} reached the worker`);
    }
    assert.equal(headers['x-end-to-end'], 'kept');
  });

  test("a client's Connection: close is not forwarded to the worker", async () => {
    const { headers } = await workerHeaders(proxy.port, { Connection: 'close' });
    assert.notEqual(headers.connection?.toLowerCase(), 'close');
  });

  test('Upgrade: h2c never reaches the worker; the request is served as plain HTTP/1.1', async () => {
    const reply = await rawExchange(
      proxy.port,
      head(
        'GET /headers HTTP/1.1',
        'Host: example.test',
        'Connection: Upgrade, HTTP2-Settings',
        'Upgrade: h2c',
        'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA',
      ),
    );
    assert.equal(reply.status, 200, reply.text);
    const { headers } = rawJson<{ headers: Record<string, string> }>(reply.text);
    assert.equal(headers.upgrade, undefined);
    assert.equal(headers['http2-settings'], undefined);
    assert.doesNotMatch(headers.connection ?? '', /upgrade/i);
    assert.equal(headers['x-real-ip'], '127.0.0.1');
  });

  test('Upgrade: h2c without Connection: upgrade never reaches the worker either', async () => {
    const { headers } = await workerHeaders(proxy.port, { Upgrade: 'h2c' });
    assert.equal(headers.upgrade, undefined);
  });

  test('an h2c upgrade request is counted as finished, like any other request', async () => {
    // The status page counts answered requests; an exchange that never "closes" is never counted.
    // Counted from a quiet proxy, so no earlier test's request is still on its way into the count.
    await proxyQuiet(proxy.statusPort);
    const before = await statusRequests(proxy.statusPort);
    const reply = await rawExchange(
      proxy.port,
      head('GET /healthz HTTP/1.1', 'Host: example.test', 'Connection: Upgrade', 'Upgrade: h2c'),
    );
    assert.equal(reply.status, 200, reply.text);
    await proxyQuiet(proxy.statusPort);
    assert.equal(await statusRequests(proxy.statusPort), before + 1);
  });

  test('an h2c upgrade request does not hold up a drain (no shutdown timeout afterwards)', async (t) => {
    const own = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      timeouts: { shutdown: '2s' },
    });
    const reply = await rawExchange(
      own.port,
      head('GET /healthz HTTP/1.1', 'Host: example.test', 'Connection: Upgrade', 'Upgrade: h2c'),
    );
    assert.equal(reply.status, 200);
    assert.equal(reply.closed, true);
    await own.close();
    const cut = own.logs.find((l) => /shutdown timeout/.test(l.msg ?? ''));
    assert.equal(cut, undefined, `the drain waited for a request that had finished: ${JSON.stringify(cut)}`);
  });

  test('WebSocket text and binary messages are echoed through the proxy', async (t) => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`);
    t.after(() => ws.terminate());
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const next = () =>
      new Promise<{ data: Buffer; binary: boolean }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no echo within 5 s')), 5000);
        ws.once('message', (data, binary) => {
          clearTimeout(timer);
          resolve({ data: data as Buffer, binary });
        });
      });
    ws.send('hello through gatehouse');
    const text = await next();
    assert.equal(text.binary, false);
    assert.equal(text.data.toString(), 'hello through gatehouse');
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    ws.send(bytes);
    const binary = await next();
    assert.equal(binary.binary, true);
    assert.deepEqual(binary.data, bytes);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.close(1000, 'done');
    assert.equal(await closed, 1000);
  });
});

async function statusRequests(statusPort: number): Promise<number> {
  const reply = await request(statusPort, { path: '/status', headers: { Accept: 'application/json' } });
  return json<{ proxy: { requests: number } }>(reply).proxy.requests;
}

describe('trusted proxies: realip and what a trusted peer may set', () => {
  let proxy: InProcessProxy;
  let recursive: InProcessProxy;
  before(async () => {
    proxy = await startProxy(null, {
      upstream: { servers: servers(worker.port) },
      trusted_proxies: ['127.0.0.1/32'],
    });
    recursive = await startProxy(null, {
      upstream: { servers: servers(worker.port) },
      trusted_proxies: ['127.0.0.0/8', '10.0.0.0/8'],
    });
  });
  after(async () => {
    await proxy?.close();
    await recursive?.close();
  });

  test('X-Real-IP is the client address from X-Forwarded-For when the peer is trusted', async () => {
    const { headers } = await workerHeaders(proxy.port, { 'X-Forwarded-For': '203.0.113.7' });
    assert.equal(headers['x-real-ip'], '203.0.113.7');
    assert.equal(headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
  });

  test('X-Real-IP skips trusted hops from the right (recursive), not spoofable by prepending', async () => {
    const { headers } = await workerHeaders(recursive.port, {
      'X-Forwarded-For': '10.9.9.9, 198.51.100.20, 10.1.2.3',
    });
    assert.equal(headers['x-real-ip'], '198.51.100.20');
  });

  test('X-Real-IP is the peer when a trusted peer sends no X-Forwarded-For (its X-Real-IP is not believed)', async () => {
    const { headers } = await workerHeaders(proxy.port, { 'X-Real-IP': '198.51.100.9' });
    assert.equal(headers['x-real-ip'], '127.0.0.1');
  });

  test('a well-formed X-Request-Id from a trusted peer is kept and returned', async () => {
    const { headers, response } = await workerHeaders(proxy.port, { 'X-Request-Id': 'lb-1234-abcd' });
    assert.equal(headers['x-request-id'], 'lb-1234-abcd');
    assert.equal(response.headers['x-request-id'], 'lb-1234-abcd');
  });

  test('a malformed X-Request-Id from a trusted peer is replaced', async () => {
    for (const bad of ['has spaces in it', 'x'.repeat(201), 'semi;colon']) {
      const { headers } = await workerHeaders(proxy.port, { 'X-Request-Id': bad });
      assert.match(headers['x-request-id'] ?? '', UUID, bad);
    }
  });

  test('X-Forwarded-Proto from a trusted peer is kept', async () => {
    const { headers } = await workerHeaders(proxy.port, { 'X-Forwarded-Proto': 'https' });
    assert.equal(headers['x-forwarded-proto'], 'https');
  });
});

describe('response header cleaning (a backend that sends hop-by-hop headers)', () => {
  let backend: Server;
  let proxy: InProcessProxy;
  before(async () => {
    backend = createServer((_req, res) => {
      res.setHeader('Set-Cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
      res.setHeader('Keep-Alive', 'timeout=5, max=100');
      res.setHeader('Connection', 'keep-alive, X-Backend-Secret');
      res.setHeader('X-Backend-Secret', 'internal');
      res.setHeader('Proxy-Authenticate', 'Basic realm="x"');
      res.setHeader('Trailer', 'X-Checksum');
      res.setHeader('Upgrade', 'h2c');
      res.setHeader('X-App', 'kept');
      res.end('body');
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    proxy = await startProxy(null, {
      upstream: { servers: servers((backend.address() as AddressInfo).port) },
    });
  });
  after(async () => {
    await proxy?.close();
    backend?.closeAllConnections();
    await new Promise((resolve) => backend?.close(resolve));
  });

  test('hop-by-hop response headers and those the backend names in Connection are removed', async () => {
    const reply = await request(proxy.port, { path: '/' });
    assert.equal(reply.status, 200);
    assert.equal(reply.text, 'body');
    for (const name of ['keep-alive', 'x-backend-secret', 'proxy-authenticate', 'trailer', 'upgrade']) {
      assert.equal(reply.headers[name], undefined, `${name} reached the client`);
    }
    assert.equal(reply.headers['x-app'], 'kept');
  });

  test('repeated Set-Cookie lines reach the client as separate lines', async () => {
    const reply = await request(proxy.port, { path: '/' });
    const cookies = [];
    for (let i = 0; i < reply.rawHeaders.length; i += 2) {
      if (reply.rawHeaders[i]!.toLowerCase() === 'set-cookie') cookies.push(reply.rawHeaders[i + 1]);
    }
    assert.deepEqual(cookies, ['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
  });
});

describe('WebSocket edge cases', () => {
  test('a WebSocket handshake with no worker reachable gets 502', async (t) => {
    const proxy = await startProxy(t, { upstream: { servers: servers(await closedPort()) } });
    const status = await handshakeStatus(proxy.port);
    assert.equal(status, 502);
  });

  test('a WebSocket handshake refused by one worker is tried on another (next_upstream error)', async (t) => {
    const proxy = await startProxy(t, { upstream: { servers: servers(await closedPort(), worker.port) } });
    // Round robin starts with the refusing server.
    const status = await handshakeStatus(proxy.port);
    assert.equal(status, 101);
  });

  test('a WebSocket handshake the worker refuses (404) is relayed, then the connection closes and nothing stays in flight', async (t) => {
    const proxy = await startProxy(t, { upstream: { servers: servers(worker.port) } });
    const reply = await rawExchange(
      proxy.port,
      head(
        'GET /no-such-page HTTP/1.1',
        'Host: a',
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      ),
      { wait: 10_000 },
    );
    assert.equal(reply.status, 404);
    assert.equal(reply.closed, true, 'the proxy closed the connection after the refusal');
    await proxyQuiet(proxy.statusPort);
  });

  test('a WebSocket tunnel idle both ways for websocket_idle is closed', async (t) => {
    const proxy = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      timeouts: { websocket_idle: '300ms' },
    });
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`);
    t.after(() => ws.terminate());
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => ws.once('close', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000)),
    ]);
    assert.equal(closed, true, 'the idle tunnel stayed open');
  });
});

describe('bodiless responses', () => {
  let proxy: InProcessProxy;
  before(async () => {
    proxy = await startProxy(null, { upstream: { servers: servers(worker.port) } });
  });
  after(() => proxy?.close());

  test('HEAD gets the head and no body', async () => {
    const reply = await rawExchange(
      proxy.port,
      head('HEAD /headers HTTP/1.1', 'Host: a', 'Connection: close'),
    );
    assert.equal(reply.status, 200);
    assert.ok(reply.text.endsWith('\r\n\r\n'), JSON.stringify(reply.text));
  });

  test('204 and 304 from the worker reach the client without a body', async () => {
    for (const code of [204, 304]) {
      const reply = await rawExchange(
        proxy.port,
        head(`GET /status/${code} HTTP/1.1`, 'Host: a', 'Connection: close'),
      );
      assert.equal(reply.status, code);
      assert.ok(reply.text.endsWith('\r\n\r\n'), JSON.stringify(reply.text));
    }
  });
});

/** The status of a WebSocket handshake through the proxy (101 when it opened). */
function handshakeStatus(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('no handshake answer within 5 s'));
    }, 5000);
    ws.once('open', () => {
      clearTimeout(timer);
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
