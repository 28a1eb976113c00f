import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Upstream } from '../../proxy/pool/upstream.js';
import { createStatusListener, type StatusListener } from '../../proxy/status/listener.js';
import { createMetrics, noUpstream } from '../../proxy/status/metrics.js';
import { createStatusServer } from '../../proxy/status/server.js';
import type { StatusSnapshot } from '../../stack/status.js';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Sends raw bytes and returns whatever the server answers before closing. */
function raw(base: string, bytes: string): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(5000, () => {
      socket.destroy();
      resolve(answer);
    });
    socket.end(bytes);
  });
}

// Prometheus text format: comments, or `name{label="value",...} number`.
const sampleLine =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/;

describe('status listener over HTTP', () => {
  const up = new Upstream({ address: '127.0.0.1:8001', host: '127.0.0.1', port: 8001 });
  const down = new Upstream({ address: '127.0.0.1:8002', host: '127.0.0.1', port: 8002 });
  down.healthy = false;
  let listener: StatusListener;
  let base: string;

  before(async () => {
    listener = createStatusListener({
      getPools: () => [{ route: 'default', upstreams: [up, down] }],
      getClientConnections: () => 3,
      getUpstreamConnections: () => ({ active: 1, idle: 4 }),
    });
    listener.observe('default', '127.0.0.1:8001', 200, 0.004);
    listener.observe('default', '127.0.0.1:8001', 200, 0.006);
    listener.observe('default', noUpstream, 502, 0.0001);
    base = await listen(listener.server);
  });
  after(() => close(listener.server));

  test('GET /status serves the HTML page with every upstream and its state', async () => {
    const res = await fetch(`${base}/status`, { headers: { accept: 'text/html,*/*;q=0.8' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const html = await res.text();
    assert.match(html, /data-upstream="127\.0\.0\.1:8001" data-state="up"/);
    assert.match(html, /data-upstream="127\.0\.0\.1:8002" data-state="down"/);
    assert.match(html, /<b id="requests-total">3<\/b> requests/);
  });

  test('GET /status with Accept: application/json serves the snapshot as JSON', async () => {
    const res = await fetch(`${base}/status`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(res.headers.get('vary') ?? '', /Accept/);
    const body = (await res.json()) as StatusSnapshot;
    assert.equal(body.proxy.requests, 3);
    assert.equal(body.proxy.pid, process.pid);
    assert.deepEqual(
      body.upstreams.map((u) => [u.address, u.state]),
      [
        ['127.0.0.1:8001', 'up'],
        ['127.0.0.1:8002', 'down'],
      ],
    );
    // Latency comes from observe(), in ms; the request that reached no upstream is not in it.
    assert.deepEqual(body.upstreams[0]?.latency, { samples: 2, p50: 4, p95: 6, p99: 6 });
  });

  test('?format=json serves JSON whatever the Accept header says', async () => {
    const res = await fetch(`${base}/status?format=json`, { headers: { accept: 'text/html' } });
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await res.json()) as StatusSnapshot).upstreams.length, 2);
  });

  test('a browser Accept header that also lists JSON at lower q still gets HTML', async () => {
    const res = await fetch(`${base}/status`, { headers: { accept: 'text/html, application/json;q=0.5' } });
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    await res.body?.cancel();
  });

  test('GET /metrics serves parseable Prometheus text with the request, health and connection series', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const bad = text
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#') && !sampleLine.test(line));
    assert.deepEqual(bad, []);
    assert.match(
      text,
      /^gatehouse_requests_total\{route="default",upstream="127\.0\.0\.1:8001",code_class="2xx"\} 2$/m,
    );
    assert.match(text, /^gatehouse_requests_total\{route="default",upstream="none",code_class="5xx"\} 1$/m);
    assert.match(text, /^gatehouse_upstream_healthy\{route="default",upstream="127\.0\.0\.1:8002"\} 0$/m);
    assert.match(text, /^gatehouse_client_connections 3$/m);
    assert.match(text, /^gatehouse_upstream_connections\{state="idle"\} 4$/m);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
  });

  test('GET / redirects to /status', async () => {
    const res = await fetch(`${base}/`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/status');
    await res.body?.cancel();
  });

  test('unknown paths get 404', async () => {
    for (const path of ['/nope', '/status/extra', '/metrics.txt']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 404, path);
      await res.body?.cancel();
    }
  });

  test('methods other than GET and HEAD get 405 with Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`${base}/status`, { method, body: method === 'DELETE' ? null : 'x' });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
      await res.body?.cancel();
    }
  });

  test('HEAD /status answers 200 with headers and no body', async () => {
    const res = await fetch(`${base}/status`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(await res.text(), '');
  });

  test('malformed requests get 400 and the listener keeps serving', async () => {
    assert.match(await raw(base, 'GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(
      await raw(base, 'GET /status HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n'),
      /^HTTP\/1\.1 400 /,
    );
    const odd = await raw(base, 'GET //%%32%/?format=%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(odd, /^HTTP\/1\.1 404 /);
    const res = await fetch(`${base}/status?format=json`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });
});

describe('createStatusServer failures', () => {
  test('a snapshot callback that throws gives 500 and is logged; the server keeps answering', async (t) => {
    const errors: unknown[] = [];
    let broken = true;
    const server = createStatusServer({
      getSnapshot: () => {
        if (broken) throw new Error('pool exploded');
        return {
          generatedAt: new Date().toISOString(),
          proxy: {
            hostname: 'h',
            pid: 1,
            version: 'x',
            startedAt: new Date().toISOString(),
            uptime: 0,
            requests: 0,
          },
          upstreams: [],
        };
      },
      metrics: createMetrics({
        getPools: () => [{ route: 'default', upstreams: [] }],
        getClientConnections: () => 0,
        getUpstreamConnections: () => ({ active: 0, idle: 0 }),
      }),
      logger: { error: (obj: unknown) => errors.push(obj) },
    });
    const base = await listen(server);
    t.after(() => close(server));

    const res = await fetch(`${base}/status`);
    assert.equal(res.status, 500);
    await res.body?.cancel();
    assert.equal(errors.length, 1);

    broken = false;
    const ok = await fetch(`${base}/status`);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });
});
