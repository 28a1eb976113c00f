import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { listenLocal } from '../helpers/net.js';
import { type InProcessProxy, servers, startProxy } from '../helpers/proxy.js';
import { type TestCertificates, testCertificates } from '../tls/certs.js';
import { h2, https1 } from '../tls/clients.js';

/**
 * Compression on the TLS listener: HTTP/2 responses (a stream, no chunked framing) and HTTP/1.1
 * over TLS are compressed and decode to what the worker sent, as on the plain listener.
 */
const PAGE = Buffer.from(`<!doctype html>${'<p>a paragraph that repeats</p>\n'.repeat(500)}`);

let certs: TestCertificates;
let proxy: InProcessProxy;
let ca: string;
let port: number;
const backend = createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': PAGE.length });
  res.end(PAGE);
});

before(async () => {
  certs = await testCertificates();
  ca = certs.ca.cert;
  const pair = await certs.issue('localhost', ['localhost', '127.0.0.1']);
  const backendPort = await listenLocal(backend);
  proxy = await startProxy(null, {
    upstream: { servers: servers(backendPort) },
    tls: { listen: '127.0.0.1:0', certificates: [{ cert: pair.cert, key: pair.key }] },
  });
  port = proxy.server.tlsAddress!.port;
});
after(async () => {
  await proxy?.close();
  backend.closeAllConnections();
  await new Promise((resolve) => backend.close(resolve));
  certs?.remove();
});

test('HTTP/2: br for a client that accepts it, no content-length, the page decoded', async () => {
  const res = await h2({ port, ca, path: '/', headers: { 'accept-encoding': 'gzip, br' } });
  assert.equal(res.alpn, 'h2');
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-encoding'], 'br');
  assert.equal(res.headers.vary, 'Accept-Encoding');
  assert.equal(res.headers['content-length'], undefined);
  assert.deepEqual(brotliDecompressSync(res.body), PAGE);
});

test('HTTP/1.1 over TLS: gzip, the page decoded; without Accept-Encoding the page as it is', async () => {
  const res = await https1({ port, ca, path: '/', headers: { 'accept-encoding': 'gzip' } });
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.deepEqual(gunzipSync(res.body), PAGE);
  const plain = await h2({ port, ca, path: '/' });
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.deepEqual(plain.body, PAGE);
});
