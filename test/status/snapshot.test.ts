import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { Upstream } from '../../proxy/pool/upstream.js';
import type { LatencyPercentiles } from '../../proxy/status/latency.js';
import { buildStatusSnapshot, packageVersion } from '../../proxy/status/snapshot.js';

const now = Date.parse('2025-01-01T12:00:00.000Z');
const noLatency = (): LatencyPercentiles => ({ samples: 0, p50: null, p95: null, p99: null });

function upstream(address: string, extra: { backup?: boolean; weight?: number } = {}): Upstream {
  const [host = '', port = '0'] = address.split(':');
  return new Upstream({ address, host, port: Number(port), ...extra });
}

describe('buildStatusSnapshot', () => {
  test('reports host name, pid, version, start time, whole seconds of uptime and the request total', () => {
    const snapshot = buildStatusSnapshot({
      pools: [],
      latency: noLatency,
      startedAt: now - 90_500,
      requests: 42,
      now,
      pid: 1234,
      hostname: 'edge-1',
      version: '9.9.9',
    });
    assert.deepEqual(snapshot.proxy, {
      hostname: 'edge-1',
      pid: 1234,
      version: '9.9.9',
      startedAt: '2025-01-01T11:58:29.500Z',
      uptime: 90,
      requests: 42,
    });
    assert.equal(snapshot.generatedAt, '2025-01-01T12:00:00.000Z');
  });

  test('states: available primary is up, available backup is backup, unhealthy, held out or draining is down', () => {
    const up = upstream('127.0.0.1:8001');
    const backup = upstream('127.0.0.1:8002', { backup: true });
    const unhealthy = upstream('127.0.0.1:8003');
    unhealthy.healthy = false;
    const heldOut = upstream('127.0.0.1:8004');
    heldOut.recordFailure(now); // max_fails 1: out for fail_timeout
    const downBackup = upstream('127.0.0.1:8005', { backup: true });
    downBackup.healthy = false;
    const draining = upstream('127.0.0.1:8006');
    draining.draining = true;

    const snapshot = buildStatusSnapshot({
      pools: [{ route: 'default', upstreams: [up, backup, unhealthy, heldOut, downBackup, draining] }],
      latency: noLatency,
      startedAt: now,
      requests: 0,
      now,
    });
    assert.deepEqual(
      snapshot.upstreams.map((u) => [u.address, u.state, u.healthy, u.draining, u.downUntil]),
      [
        ['127.0.0.1:8001', 'up', true, false, null],
        ['127.0.0.1:8002', 'backup', true, false, null],
        ['127.0.0.1:8003', 'down', false, false, null],
        ['127.0.0.1:8004', 'down', true, false, new Date(now + 10_000).toISOString()],
        ['127.0.0.1:8005', 'down', false, false, null],
        ['127.0.0.1:8006', 'down', true, true, null],
      ],
    );
  });

  test('a passive hold-out that has expired is up again with no down-until', () => {
    const u = upstream('127.0.0.1:8001');
    u.recordFailure(now - 20_000);
    const [status] = buildStatusSnapshot({
      pools: [{ route: 'default', upstreams: [u] }],
      latency: noLatency,
      startedAt: now,
      requests: 0,
      now,
    }).upstreams;
    assert.equal(status?.state, 'up');
    assert.equal(status?.downUntil, null);
  });

  test('copies live counters and weight, and the latency of each upstream by address', () => {
    const u = upstream('10.0.0.1:3000', { weight: 5 });
    u.inFlight = 3;
    u.requests = 120;
    u.failures = 7;
    const snapshot = buildStatusSnapshot({
      pools: [{ route: 'default', upstreams: [u] }],
      latency: (address) =>
        address === '10.0.0.1:3000'
          ? { samples: 3, p50: 1.23456789, p95: 20, p99: 30.0004 }
          : { samples: 0, p50: null, p95: null, p99: null },
      startedAt: now,
      requests: 0,
      now,
    });
    assert.deepEqual(snapshot.upstreams[0], {
      route: 'default',
      address: '10.0.0.1:3000',
      weight: 5,
      backup: false,
      state: 'up',
      healthy: true,
      draining: false,
      downUntil: null,
      inFlight: 3,
      requests: 120,
      failures: 7,
      latency: { samples: 3, p50: 1.235, p95: 20, p99: 30 },
      worker: null,
    });
  });

  test('carries the worker a health answer named, as a copy that later answers do not change', () => {
    const u = upstream('10.0.0.3:3000');
    u.worker = { hostname: '3f2a1b9c04de', pid: 7, instance: 0, port: 3000, healthProbes: 5 };
    const snapshot = buildStatusSnapshot({
      pools: [{ route: 'default', upstreams: [u] }],
      latency: noLatency,
      startedAt: now,
      requests: 0,
      now,
    });
    u.worker.healthProbes = 6;
    assert.deepEqual(snapshot.upstreams[0]?.worker, {
      hostname: '3f2a1b9c04de',
      pid: 7,
      instance: 0,
      port: 3000,
      healthProbes: 5,
    });
  });

  test('is plain data: a JSON round trip gives back the same object', () => {
    const u = upstream('127.0.0.1:8001');
    u.healthy = false;
    const snapshot = buildStatusSnapshot({
      pools: [{ route: 'default', upstreams: [u] }],
      latency: noLatency,
      startedAt: now,
      requests: 1,
      now,
    });
    assert.deepEqual(JSON.parse(JSON.stringify(snapshot)), snapshot);
  });

  test('the version defaults to the one in package.json', () => {
    const pkg = JSON.parse(readFileSync(resolve(packageRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(packageVersion(), pkg.version);
    const snapshot = buildStatusSnapshot({
      pools: [],
      latency: noLatency,
      startedAt: now,
      requests: 0,
      now,
    });
    assert.equal(snapshot.proxy.version, pkg.version);
  });
});
