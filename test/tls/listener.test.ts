import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { sensitiveHeaders } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { WebSocket } from 'ws';
import { listenLocal } from '../helpers/net.js';
import { type InProcessProxy, request, servers, startProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';
import { assertEchoes } from '../helpers/websocket.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { type TestCertificates, testCertificates } from './certs.js';
import { h2, h2session, https1 } from './clients.js';

let certs: TestCertificates;
let worker: WorkerProcess;
/** A backend of the test's own: echoes bodies (any size) and answers with connection-specific headers. */
let backend: Server;
let backendPort: number;
before(async () => {
  certs = await testCertificates();
  worker = await startWorker();
  backend = createServer((req, res) => {
    if (req.url === '/hop-by-hop') {
      res.writeHead(200, [
        'Connection',
        'keep-alive, X-Private',
        'Keep-Alive',
        'timeout=5',
        'Upgrade',
        'h2c',
        'X-Private',
        'for the proxy only',
        'Proxy-Connection',
        'keep-alive',
        'Content-Type',
        'text/plain',
      ]);
      res.write('chunked ');
      res.end('body');
      return;
    }
    if (req.url === '/repeated') {
      // Lines HTTP/2 takes once (Content-Type, Age) given twice, and lines that may repeat.
      if (req.headers['x-status'] === '204') {
        res.writeHead(204, ['Age', '1', 'Age', '2']);
        res.end();
        return;
      }
      res.writeHead(200, [
        'Content-Type',
        'text/plain',
        'Content-Type',
        'text/html',
        'Age',
        '1',
        'Age',
        '2',
        'Set-Cookie',
        'a=1',
        'Set-Cookie',
        'b=2',
        'Content-Length',
        '2',
      ]);
      res.end(req.method === 'HEAD' ? undefined : 'ok');
      return;
    }
    const hash = createHash('sha256');
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ size, sha256: hash.digest('hex'), te: req.headers['transfer-encoding'] ?? null }),
      );
    });
  });
  backendPort = await listenLocal(backend);
});
after(async () => {
  await worker?.stop();
  backend?.closeAllConnections();
  await new Promise((r) => backend?.close(r));
  certs?.remove();
});

/** The tls section of a proxy on a port of its own with the localhost pair, plus `extra` keys. */
function localhostTls(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    certificates: [{ cert: `${certs.dir}/localhost.pem`, key: `${certs.dir}/localhost-key.pem` }],
    ...extra,
  };
}

const DAY = 86_400_000;

describe('the TLS listener', () => {
  let proxy: InProcessProxy;
  let ca: string;
  let port: number;
  before(async () => {
    ca = certs.ca.cert;
    const main = await certs.issue('localhost', ['localhost', '127.0.0.1']);
    const other = await certs.issue('other', ['*.other.test'], { days: 20 });
    proxy = await startProxy(null, {
      upstream: { servers: servers(worker.port) },
      client_max_body_size: '64m',
      tls: {
        listen: '127.0.0.1:0',
        certificates: [
          { cert: main.cert, key: main.key },
          { cert: other.cert, key: other.key },
        ],
        hsts: '365d',
        redirect_http: true,
      },
    });
    port = proxy.server.tlsAddress!.port;
  });
  after(() => proxy?.close());

  test('HTTP/1.1 over TLS: the worker gets Host and X-Forwarded-Proto https; HSTS on the answer', async () => {
    const res = await https1({ port, ca, path: '/headers' });
    assert.equal(res.status, 200);
    assert.equal(res.alpn, 'http/1.1');
    const { headers } = JSON.parse(res.body.toString()) as { headers: Record<string, string> };
    assert.equal(headers.host, `localhost:${port}`);
    assert.equal(headers['x-forwarded-proto'], 'https');
    assert.equal(headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(res.headers['strict-transport-security'], `max-age=${365 * 86400}`);
  });

  test('HTTP/2: :authority becomes Host, no pseudo-header reaches the worker, X-Forwarded-Proto https', async () => {
    const res = await h2({ port, ca, path: '/headers?x=1', headers: { 'x-custom': 'yes' } });
    assert.equal(res.status, 200);
    assert.equal(res.alpn, 'h2');
    const { headers } = JSON.parse(res.body.toString()) as { headers: Record<string, string> };
    assert.equal(headers.host, `localhost:${port}`);
    assert.equal(headers['x-forwarded-proto'], 'https');
    assert.equal(headers['x-custom'], 'yes');
    assert.deepEqual(
      Object.keys(headers).filter((h) => h.startsWith(':')),
      [],
    );
    assert.equal(res.headers['strict-transport-security'], `max-age=${365 * 86400}`);
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    // New in every response: sent as a literal HPACK never indexes (h2-response.ts).
    assert.deepEqual((res.headers as Record<symbol, unknown>)[sensitiveHeaders], ['x-request-id']);
  });

  test('SNI: each name gets its certificate (exact, wildcard), an unknown name and no SNI the first', async () => {
    const names = async (servername?: string) =>
      (await https1({ port, ca, path: '/healthz', ...(servername ? { servername } : {}) })).peer
        ?.subjectaltname;
    assert.equal(await names('localhost'), 'DNS:localhost, IP Address:127.0.0.1');
    assert.equal(await names('api.other.test'), 'DNS:*.other.test');
    const viaH2 = await h2({ port, ca, servername: 'www.other.test', path: '/healthz' });
    assert.equal(viaH2.peer?.subjectaltname, 'DNS:*.other.test');
    // Without SNI (an IP address is never sent as SNI): the default pair, valid for 127.0.0.1.
    const bare = await https1({ port, ca, path: '/healthz', servername: '' });
    assert.equal(bare.peer?.subjectaltname, 'DNS:localhost, IP Address:127.0.0.1');
  });

  test('HTTP/2: connection-specific headers of the worker are stripped, the response arrives whole', async (t) => {
    const direct = await startProxy(t, {
      upstream: { servers: servers(backendPort) },
      tls: localhostTls(),
    });
    const tlsPort = direct.server.tlsAddress!.port;
    const res = await h2({ port: tlsPort, ca, path: '/hop-by-hop' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'chunked body');
    for (const name of [
      'connection',
      'keep-alive',
      'upgrade',
      'x-private',
      'proxy-connection',
      'transfer-encoding',
    ])
      assert.equal(res.headers[name], undefined, name);
    // And over HTTP/1.1 on the same port.
    const one = await https1({ port: tlsPort, ca, path: '/hop-by-hop' });
    assert.equal(one.body.toString(), 'chunked body');
    assert.equal(one.headers['x-private'], undefined);
    assert.deepEqual(direct.crashes(), []);
  });

  test('HTTP/2: a head line given twice that HTTP/2 takes once is sent once (the last), repeats of others all', async (t) => {
    const direct = await startProxy(t, {
      upstream: { servers: servers(backendPort) },
      tls: localhostTls({ hsts: '1d' }),
    });
    const tlsPort = direct.server.tlsAddress!.port;
    const res = await h2({ port: tlsPort, ca, path: '/repeated' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
    assert.equal(res.headers['content-type'], 'text/html');
    assert.equal(res.headers.age, '2');
    assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(res.headers['content-length'], '2');
    // Set by the proxy before the worker's head (setHeader), sent with it.
    assert.equal(res.headers['strict-transport-security'], 'max-age=86400');
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const head = await h2({ port: tlsPort, ca, method: 'HEAD', path: '/repeated' });
    assert.deepEqual([head.status, head.body.length, head.headers['content-length']], [200, 0, '2']);
    const empty = await h2({ port: tlsPort, ca, path: '/repeated', headers: { 'x-status': '204' } });
    assert.deepEqual([empty.status, empty.body.length, empty.headers.age], [204, 0, '2']);
    // Before, Node's http2 core threw on the second Content-Type: the stream was reset unanswered.
    assert.deepEqual(
      direct.logs.filter((line) => line.msg === 'upstream failed mid-response'),
      [],
    );
    assert.deepEqual(direct.crashes(), []);
  });

  test('HTTP/2: a 20 MiB body without Content-Length streams to the worker and its answer back, with flow control', async (t) => {
    const direct = await startProxy(t, {
      upstream: { servers: servers(backendPort) },
      client_max_body_size: '64m',
      buffering: { request: false },
      tls: localhostTls(),
    });
    const chunk = Buffer.alloc(64 * 1024, 7);
    const expected = createHash('sha256');
    const parts = 320;
    for (let i = 0; i < parts; i++) expected.update(chunk);
    async function* body() {
      for (let i = 0; i < parts; i++) yield chunk;
    }
    const res = await h2({
      port: direct.server.tlsAddress!.port,
      ca,
      method: 'POST',
      path: '/upload',
      body: body(),
    });
    assert.equal(res.status, 200);
    const seen = JSON.parse(res.body.toString()) as { size: number; sha256: string; te: string | null };
    assert.deepEqual(seen, { size: parts * chunk.length, sha256: expected.digest('hex'), te: 'chunked' });
  });

  test('WebSocket over HTTP/1.1 on the TLS port', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca });
    try {
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      await assertEchoes(ws, 'over tls');
    } finally {
      ws.terminate();
    }
  });

  test('redirect_http: the plain listener answers 308 to https, but /healthz and ACME challenges', async () => {
    const moved = await request(proxy.port, {
      path: '/signin?next=%2F',
      headers: { host: `localhost:${proxy.port}` },
    });
    assert.equal(moved.status, 308);
    assert.equal(moved.headers.location, `https://localhost:${port}/signin?next=%2F`);
    const health = await request(proxy.port, { path: '/healthz' });
    assert.equal(health.status, 200);
    assert.equal(health.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
    // Without a responder the challenge path goes to the workers (none knows it: 404).
    assert.equal((await request(proxy.port, { path: '/.well-known/acme-challenge/abc' })).status, 404);
    proxy.server.setChallengeResponder((token) => (token === 'tok-1' ? 'tok-1.thumbprint' : undefined));
    const answer = await request(proxy.port, { path: '/.well-known/acme-challenge/tok-1' });
    assert.deepEqual([answer.status, answer.text], [200, 'tok-1.thumbprint']);
    assert.equal((await request(proxy.port, { path: '/.well-known/acme-challenge/other' })).status, 404);
    proxy.server.setChallengeResponder(null);
  });

  test('one h2 connection carries many requests at once', async () => {
    const session = await h2session(port, ca);
    try {
      const all = await Promise.all(
        Array.from({ length: 20 }, (_, i) => h2({ port, ca, session, path: `/headers?n=${i}` })),
      );
      assert.deepEqual(
        all.map((r) => r.status),
        Array(20).fill(200),
      );
    } finally {
      session.close();
    }
  });

  test('the certificates in service: names and end dates', () => {
    const list = proxy.server.tls!.certificates();
    assert.deepEqual(
      list.map((c) => c.names),
      [['localhost', '127.0.0.1'], ['*.other.test']],
    );
    const days = Math.floor((list[1]!.notAfter.getTime() - Date.now()) / DAY);
    assert.equal(days, 19);
  });
});

describe('tls.http2 false and tls.min_version TLSv1.3', () => {
  test('http2 false: ALPN offers http/1.1 only, an h2-only client is refused; TLSv1.3: a TLSv1.2 client is refused', async (t) => {
    const pair = await certs.issue('strict', ['localhost']);
    const proxy = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      tls: {
        listen: '127.0.0.1:0',
        certificates: [{ cert: pair.cert, key: pair.key }],
        http2: false,
        min_version: 'TLSv1.3',
      },
    });
    const port = proxy.server.tlsAddress!.port;
    const ca = certs.ca.cert;
    const one = await https1({ port, ca, path: '/healthz' });
    assert.deepEqual([one.status, one.alpn], [200, 'http/1.1']);
    await assert.rejects(h2session(port, ca));
    const version = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
      new Promise<string | null>((resolve, reject) => {
        const socket = connectTls(
          { host: '127.0.0.1', port, servername: 'localhost', ca, maxVersion },
          () => {
            resolve(socket.getProtocol());
            socket.end();
          },
        );
        socket.once('error', reject);
      });
    assert.equal(await version('TLSv1.3'), 'TLSv1.3');
    await assert.rejects(version('TLSv1.2'), /protocol version|alert/i);
  });
});

describe('the TLS listener at its limits', () => {
  test('request heads over client_max_header_size get 431 over h2 and HTTP/1.1 alike', async (t) => {
    const pair = await certs.issue('limits', ['localhost']);
    const proxy = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      client_max_header_size: '4k',
      tls: { listen: '127.0.0.1:0', certificates: [{ cert: pair.cert, key: pair.key }] },
    });
    const port = proxy.server.tlsAddress!.port;
    const ca = certs.ca.cert;
    const big = { 'x-big': 'a'.repeat(6000) };
    assert.equal((await h2({ port, ca, path: '/headers', headers: big })).status, 431);
    assert.equal((await https1({ port, ca, path: '/headers', headers: big })).status, 431);
    assert.equal(
      (await h2({ port, ca, path: '/headers', headers: { 'x-small': 'a'.repeat(1000) } })).status,
      200,
    );
  });

  test('shutdown: a request in flight on h2 finishes, the connection then closes', async () => {
    const pair = await certs.issue('drain', ['localhost']);
    const proxy = await startProxy(null, {
      upstream: { servers: servers(worker.port) },
      tls: { listen: '127.0.0.1:0', certificates: [{ cert: pair.cert, key: pair.key }] },
    });
    const port = proxy.server.tlsAddress!.port;
    const ca = certs.ca.cert;
    const session = await h2session(port, ca);
    try {
      const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
      const inFlight = h2({ port, ca, session, path: '/delay/800' });
      // Once the request is at the worker (the upstream counts it), the proxy is told to stop.
      await waitFor(
        'the request in flight',
        async () => proxy.server.runtime.backends[0]!.pool.upstreams[0]!.inFlight === 1,
      );
      const stopped = proxy.close();
      assert.equal((await inFlight).status, 200);
      await stopped;
      await closed;
    } finally {
      session.destroy();
      await proxy.close();
    }
  });
});
