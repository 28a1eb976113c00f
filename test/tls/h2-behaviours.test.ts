import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closedPort, type InProcessProxy, request, servers, startProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { type TestCertificates, testCertificates } from './certs.js';
import { h2, https1, type TlsRequestOptions, type TlsResponse } from './clients.js';

/**
 * The proxy's existing behaviours (timeouts, limits, retries, errors, access log, metrics) hold
 * on the TLS port: every case runs the same assertions through node's http2 client and over
 * HTTP/1.1 over TLS.
 */
const protocols: ReadonlyArray<[string, (options: TlsRequestOptions) => Promise<TlsResponse>]> = [
  ['h2', h2],
  ['http/1.1 over TLS', https1],
];

let certs: TestCertificates;
let worker: WorkerProcess;
let pair: { cert: string; key: string };
before(async () => {
  certs = await testCertificates();
  worker = await startWorker();
  const issued = await certs.issue('localhost', ['localhost', '127.0.0.1']);
  pair = { cert: issued.cert, key: issued.key };
});
after(async () => {
  await worker?.stop();
  certs?.remove();
});

async function* slowBody(parts: number, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < parts; i++) yield Buffer.alloc(size, 97);
}

for (const [name, send] of protocols) {
  describe(`existing behaviours over ${name}`, () => {
    let proxy: InProcessProxy;
    let dead: number;
    let port: number;
    let logFile: string;
    const ca = () => certs.ca.cert;
    before(async () => {
      dead = await closedPort();
      logFile = join(certs.dir, `access-${name.replaceAll(/\W/g, '')}.log`);
      proxy = await startProxy(null, {
        upstream: { servers: servers(dead, worker.port), max_fails: 0 },
        retries: { tries: 0 },
        timeouts: { read: '700ms' },
        client_max_body_size: '4k',
        access_log: { format: 'json', path: logFile },
        tls: { listen: '127.0.0.1:0', certificates: [pair] },
      });
      port = proxy.server.tlsAddress!.port;
    });
    after(() => proxy?.close());

    test('retries: a refused upstream is skipped, the request is answered by the next one', async () => {
      for (let i = 0; i < 4; i++) {
        const res = await send({ port, ca: ca(), path: '/headers' });
        assert.equal(res.status, 200);
      }
    });

    test('504 when the worker is slower than timeouts.read', async () => {
      const res = await send({ port, ca: ca(), path: '/delay/5000' });
      assert.equal(res.status, 504);
      assert.match(res.body.toString(), /504/);
    });

    test('413 for a Content-Length over client_max_body_size, and for a body without one growing over it', async () => {
      const declared = await send({
        port,
        ca: ca(),
        method: 'POST',
        path: '/echo',
        headers: { 'content-length': '5000' },
        body: Buffer.alloc(5000, 98),
      });
      assert.equal(declared.status, 413);
      const streamed = await send({
        port,
        ca: ca(),
        method: 'POST',
        path: '/echo',
        body: slowBody(10, 1024),
      });
      assert.equal(streamed.status, 413);
      const fits = await send({ port, ca: ca(), method: 'POST', path: '/echo', body: slowBody(3, 1000) });
      assert.deepEqual([fits.status, fits.body.length], [200, 3000]);
    });

    test('502 when no upstream can answer', async (t) => {
      const none = await startProxy(t, {
        upstream: { servers: servers(dead) },
        tls: { listen: '127.0.0.1:0', certificates: [pair] },
      });
      const res = await send({ port: none.server.tlsAddress!.port, ca: ca(), path: '/' });
      assert.equal(res.status, 502);
    });

    test('the access log and /metrics count the requests of the TLS port', async () => {
      const res = await send({ port, ca: ca(), path: '/status/418' });
      assert.equal(res.status, 418);
      const id = String(res.headers['x-request-id']);
      const line = await waitFor('the access log line', async () =>
        readFileSync(logFile, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.request_id === id),
      );
      assert.equal(line.status, 418);
      const metrics = await request(proxy.statusPort, { path: '/metrics' });
      assert.match(
        metrics.text,
        new RegExp(
          `gatehouse_requests_total\\{route="default",upstream="127.0.0.1:${worker.port}",code_class="4xx"\\} 1`,
        ),
      );
    });
  });
}
