import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import { Upstream } from '../../proxy/pool/upstream.js';
import { createMetrics, noUpstream } from '../../proxy/status/metrics.js';

function upstream(port: number): Upstream {
  return new Upstream({ address: `127.0.0.1:${port}`, host: '127.0.0.1', port });
}

function setup(upstreams: Upstream[] = [upstream(8001), upstream(8002)]) {
  const live = { clients: 0, active: 0, idle: 0 };
  const metrics = createMetrics({
    getPools: () => [{ route: 'default', upstreams: upstreams }],
    getClientConnections: () => live.clients,
    getUpstreamConnections: () => ({ active: live.active, idle: live.idle }),
  });
  return { metrics, upstreams, live };
}

/** The value of one sample line (`name{labels} value`) in Prometheus text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('createMetrics', () => {
  test('observe counts requests by upstream and status class', async () => {
    const { metrics } = setup();
    metrics.observe('default', '127.0.0.1:8001', 200, 0.01);
    metrics.observe('default', '127.0.0.1:8001', 204, 0.02);
    metrics.observe('default', '127.0.0.1:8001', 503, 0.03);
    metrics.observe('default', '127.0.0.1:8002', 404, 0.04);
    metrics.observe('default', noUpstream, 502, 0.001);
    const text = await metrics.registry.metrics();
    assert.equal(
      sample(text, 'gatehouse_requests_total{route="default",upstream="127.0.0.1:8001",code_class="2xx"}'),
      2,
    );
    assert.equal(
      sample(text, 'gatehouse_requests_total{route="default",upstream="127.0.0.1:8001",code_class="5xx"}'),
      1,
    );
    assert.equal(
      sample(text, 'gatehouse_requests_total{route="default",upstream="127.0.0.1:8002",code_class="4xx"}'),
      1,
    );
    assert.equal(
      sample(text, 'gatehouse_requests_total{route="default",upstream="none",code_class="5xx"}'),
      1,
    );
    assert.equal(
      sample(text, 'gatehouse_requests_total{route="default",upstream="127.0.0.1:8002",code_class="2xx"}'),
      undefined,
    );
  });

  test('observe feeds the duration histogram per upstream, in seconds', async () => {
    const { metrics } = setup();
    metrics.observe('default', '127.0.0.1:8001', 200, 0.003);
    metrics.observe('default', '127.0.0.1:8001', 200, 0.2);
    const text = await metrics.registry.metrics();
    assert.equal(
      sample(text, 'gatehouse_request_duration_seconds_count{route="default",upstream="127.0.0.1:8001"}'),
      2,
    );
    assert.equal(
      sample(text, 'gatehouse_request_duration_seconds_sum{route="default",upstream="127.0.0.1:8001"}'),
      0.203,
    );
    assert.equal(
      sample(
        text,
        'gatehouse_request_duration_seconds_bucket{le="0.005",route="default",upstream="127.0.0.1:8001"}',
      ),
      1,
    );
    assert.equal(
      sample(
        text,
        'gatehouse_request_duration_seconds_bucket{le="0.25",route="default",upstream="127.0.0.1:8001"}',
      ),
      2,
    );
  });

  test('observe never throws, even on a nonsense status or duration', async () => {
    const { metrics } = setup();
    assert.doesNotThrow(() => {
      metrics.observe('default', '127.0.0.1:8001', 0, Number.NaN);
      metrics.observe('default', '127.0.0.1:8001', 999, -1);
      metrics.observe('default', '127.0.0.1:8001', 200, Number.POSITIVE_INFINITY);
    });
    const text = await metrics.registry.metrics();
    assert.equal(
      sample(text, 'gatehouse_requests_total{route="default",upstream="127.0.0.1:8001",code_class="other"}'),
      2,
    );
    assert.equal(
      sample(text, 'gatehouse_request_duration_seconds_count{route="default",upstream="127.0.0.1:8001"}'),
      undefined,
    );
  });

  test('health and in-flight gauges read the upstreams at scrape time', async () => {
    const { metrics, upstreams } = setup();
    const [a, b] = upstreams as [Upstream, Upstream];
    a.inFlight = 3;
    b.healthy = false;
    let text = await metrics.registry.metrics();
    assert.equal(sample(text, 'gatehouse_upstream_healthy{route="default",upstream="127.0.0.1:8001"}'), 1);
    assert.equal(sample(text, 'gatehouse_upstream_healthy{route="default",upstream="127.0.0.1:8002"}'), 0);
    assert.equal(sample(text, 'gatehouse_upstream_in_flight{route="default",upstream="127.0.0.1:8001"}'), 3);

    a.inFlight = 0;
    a.recordFailure(); // passive health takes it out: not available means unhealthy here too
    b.healthy = true;
    text = await metrics.registry.metrics();
    assert.equal(sample(text, 'gatehouse_upstream_healthy{route="default",upstream="127.0.0.1:8001"}'), 0);
    assert.equal(sample(text, 'gatehouse_upstream_healthy{route="default",upstream="127.0.0.1:8002"}'), 1);
    assert.equal(sample(text, 'gatehouse_upstream_in_flight{route="default",upstream="127.0.0.1:8001"}'), 0);
  });

  test('an upstream removed from the pool disappears from the gauges', async () => {
    const upstreams = [upstream(8001), upstream(8002)];
    const { metrics } = setup(upstreams);
    await metrics.registry.metrics();
    upstreams.pop();
    const text = await metrics.registry.metrics();
    assert.equal(
      sample(text, 'gatehouse_upstream_healthy{route="default",upstream="127.0.0.1:8002"}'),
      undefined,
    );
    assert.equal(sample(text, 'gatehouse_upstream_healthy{route="default",upstream="127.0.0.1:8001"}'), 1);
  });

  test('the failures counter follows Upstream.failures and never goes down', async () => {
    const upstreams = [upstream(8001)];
    const { metrics } = setup(upstreams);
    const series = 'gatehouse_upstream_failures_total{route="default",upstream="127.0.0.1:8001"}';
    assert.equal(sample(await metrics.registry.metrics(), series), 0);
    upstreams[0]!.failures = 4;
    assert.equal(sample(await metrics.registry.metrics(), series), 4);
    assert.equal(sample(await metrics.registry.metrics(), series), 4);
    // A pool swap brings a fresh object for the same address: its failures add on.
    upstreams[0] = upstream(8001);
    upstreams[0].failures = 1;
    assert.equal(sample(await metrics.registry.metrics(), series), 5);
  });

  test('connection gauges read their callbacks at scrape time', async () => {
    const { metrics, live } = setup();
    Object.assign(live, { clients: 7, active: 2, idle: 5 });
    let text = await metrics.registry.metrics();
    assert.equal(sample(text, 'gatehouse_client_connections'), 7);
    assert.equal(sample(text, 'gatehouse_upstream_connections{state="active"}'), 2);
    assert.equal(sample(text, 'gatehouse_upstream_connections{state="idle"}'), 5);
    Object.assign(live, { clients: 1, active: 0, idle: 6 });
    text = await metrics.registry.metrics();
    assert.equal(sample(text, 'gatehouse_client_connections'), 1);
    assert.equal(sample(text, 'gatehouse_upstream_connections{state="active"}'), 0);
    assert.equal(sample(text, 'gatehouse_upstream_connections{state="idle"}'), 6);
  });

  test('includes the default process metrics, on its own registry and not the global one', async () => {
    const { metrics } = setup();
    metrics.observe('default', '127.0.0.1:8001', 200, 0.01);
    const text = await metrics.registry.metrics();
    assert.match(text, /^process_cpu_user_seconds_total /m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
    assert.doesNotMatch(await globalRegistry.metrics(), /gatehouse_/);
  });

  test('two instances keep separate counts', async () => {
    const first = setup().metrics;
    const second = setup().metrics;
    first.observe('default', '127.0.0.1:8001', 200, 0.01);
    const series = 'gatehouse_requests_total{route="default",upstream="127.0.0.1:8001",code_class="2xx"}';
    assert.equal(sample(await first.registry.metrics(), series), 1);
    assert.equal(sample(await second.registry.metrics(), series), undefined);
  });
});
