import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatMs, formatUptime, renderStatusPage } from '../../proxy/status/page.js';
import type { StatusSnapshot, UpstreamStatus } from '../../stack/status.js';

const generatedAt = '2025-01-01T12:00:00.000Z';

function upstream(address: string, extra: Partial<UpstreamStatus> = {}): UpstreamStatus {
  return {
    route: 'default',
    address,
    weight: 1,
    backup: false,
    state: 'up',
    healthy: true,
    draining: false,
    downUntil: null,
    inFlight: 0,
    requests: 0,
    failures: 0,
    latency: { samples: 0, p50: null, p95: null, p99: null },
    worker: null,
    ...extra,
  };
}

function snapshot(upstreams: UpstreamStatus[], requests = 0): StatusSnapshot {
  return {
    generatedAt,
    proxy: {
      hostname: 'edge-1',
      pid: 4321,
      version: '1.2.3',
      startedAt: '2025-01-01T09:00:00.000Z',
      uptime: 3 * 3600 + 120,
      requests,
    },
    upstreams,
  };
}

/** The <tr> of one upstream, found by its data-upstream attribute. */
function row(html: string, address: string): string {
  const start = html.indexOf(`data-upstream="${address}"`);
  assert.notEqual(start, -1, `no row for ${address}`);
  return html.slice(start, html.indexOf('</tr>', start));
}

describe('renderStatusPage', () => {
  test('escapes a hostile upstream address everywhere it appears', () => {
    const hostile = '<script>alert("x")</script>"><img src=x onerror=alert(1)>:80';
    const html = renderStatusPage(snapshot([upstream(hostile)]));
    assert.ok(!html.includes('<script>'), 'raw <script> in the page');
    assert.ok(!html.includes('<img'), 'raw <img> in the page');
    assert.ok(
      html.includes(
        '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;:80',
      ),
    );
    // No attribute can be broken out of: every quote inside the address is encoded.
    assert.ok(html.includes('data-upstream="&lt;script&gt;alert(&quot;x&quot;)'));
  });

  test('shows each upstream state as a word and a matching class', () => {
    const html = renderStatusPage(
      snapshot([
        upstream('127.0.0.1:8001'),
        upstream('127.0.0.1:8002', { state: 'down', healthy: false }),
        upstream('127.0.0.1:8003', { state: 'backup', backup: true }),
      ]),
    );
    assert.match(row(html, '127.0.0.1:8001'), /data-state="up"[\s\S]*<span class="state up">up<\/span>/);
    assert.match(
      row(html, '127.0.0.1:8002'),
      /data-state="down"[\s\S]*<span class="state down">down<\/span>/,
    );
    assert.match(
      row(html, '127.0.0.1:8003'),
      /data-state="backup"[\s\S]*<span class="state backup">backup<\/span>/,
    );
  });

  test('says why an upstream is down: failing health check, held out after failures and for how long, draining', () => {
    const html = renderStatusPage(
      snapshot([
        upstream('127.0.0.1:8001', { state: 'down', healthy: false }),
        upstream('127.0.0.1:8002', { state: 'down', downUntil: '2025-01-01T12:00:07.200Z' }),
        upstream('127.0.0.1:8003', { state: 'down', draining: true }),
        upstream('127.0.0.1:8004'),
      ]),
    );
    assert.match(row(html, '127.0.0.1:8001'), /<span class="detail">health check failing<\/span>/);
    assert.match(row(html, '127.0.0.1:8002'), /<span class="detail">failures, retry in 8 s<\/span>/);
    assert.match(row(html, '127.0.0.1:8003'), /<span class="detail">draining<\/span>/);
    assert.match(row(html, '127.0.0.1:8004'), /<span class="detail"><\/span>/);
  });

  test('right-aligns formatted counters and latency in the upstream row', () => {
    const html = renderStatusPage(
      snapshot([
        upstream('127.0.0.1:8001', {
          weight: 3,
          inFlight: 2,
          requests: 1234567,
          failures: 12,
          latency: { samples: 10, p50: 0.4242, p95: 3.1234, p99: 1500 },
          worker: { hostname: 'web-1', pid: 7, instance: 0, port: 3000, healthProbes: 4321 },
        }),
      ]),
    );
    const cells = [...row(html, '127.0.0.1:8001').matchAll(/<td class="num">([^<]*)<\/td>/g)].map(
      (m) => m[1],
    );
    assert.deepEqual(cells, ['3', '2', '1,234,567', '12', '4,321', '0.42', '3.1', '1,500']);
  });

  test('names the worker behind each upstream (host name, pid, instance, port) and a dash until one answered', () => {
    const html = renderStatusPage(
      snapshot([
        upstream('10.0.0.3:3000', {
          worker: { hostname: '3f2a1b9c04de', pid: 7, instance: 0, port: 3000, healthProbes: 12 },
        }),
        upstream('10.0.0.4:3000', {
          worker: { hostname: '9e8d7c6b5a41', pid: 7, instance: 0, port: 3000, healthProbes: 30 },
        }),
        upstream('10.0.0.5:3000'),
      ]),
    );
    assert.match(
      row(html, '10.0.0.3:3000'),
      /<span class="worker">3f2a1b9c04de<\/span><span class="detail">pid 7 · instance 0 · port 3000<\/span>/,
    );
    assert.match(row(html, '10.0.0.4:3000'), /<span class="worker">9e8d7c6b5a41<\/span>/);
    assert.match(row(html, '10.0.0.5:3000'), /<span class="worker">–<\/span><span class="detail"><\/span>/);
    // Probes are counted instead of logged: each worker's count, and their sum in the header.
    assert.match(html, /health probes answered: <b id="health-probes-total">42<\/b>/);
  });

  test('header shows version, pid, uptime and the request total; summary counts down upstreams', () => {
    const html = renderStatusPage(
      snapshot(
        [upstream('127.0.0.1:8001'), upstream('127.0.0.1:8002', { state: 'down', healthy: false })],
        98765,
      ),
    );
    assert.match(html, /version <b>1\.2\.3<\/b>/);
    assert.match(html, /host <b>edge-1<\/b>/);
    assert.match(html, /pid <b>4321<\/b>/);
    assert.match(html, /uptime <b [^>]*>3h 2m<\/b>/);
    assert.match(html, /<b id="requests-total">98,765<\/b> requests/);
    assert.match(html, /class="summary warn"[^>]*>1 of 2 upstreams down</);
  });

  test('refreshes itself every given number of seconds', () => {
    assert.match(renderStatusPage(snapshot([])), /<meta http-equiv="refresh" content="2">/);
    assert.match(
      renderStatusPage(snapshot([]), { refreshSeconds: 5 }),
      /<meta http-equiv="refresh" content="5">/,
    );
  });

  test('an empty pool says so instead of showing an empty table', () => {
    const html = renderStatusPage(snapshot([]));
    assert.match(html, /No upstreams in the pool\./);
    assert.match(html, /class="summary bad"/);
  });

  test('loads nothing from outside: no external scripts, stylesheets or images', () => {
    const html = renderStatusPage(snapshot([upstream('127.0.0.1:8001')]));
    assert.doesNotMatch(html, /<script|<link|<img|src=|@import|url\(/i);
  });
});

describe('formatting', () => {
  test('uptime uses the two largest units', () => {
    assert.deepEqual([0, 59, 61, 3599, 3661, 86_400 + 7200 + 5].map(formatUptime), [
      '0s',
      '59s',
      '1m 1s',
      '59m 59s',
      '1h 1m',
      '1d 2h',
    ]);
  });

  test('milliseconds get fewer decimals as they grow, and a dash before the first sample', () => {
    assert.deepEqual([null, 0.123, 4.56, 42.4, 12345].map(formatMs), ['–', '0.12', '4.6', '42', '12,345']);
  });
});
