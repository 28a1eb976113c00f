import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Pm2ProcessInfo } from '../../deploy/pm2/daemon.js';
import {
  connectAddress,
  formatBytes,
  formatUptime,
  joinWorkers,
  renderStatus,
  type StackStatus,
} from '../../deploy/pm2/status.js';
import type { StatusSnapshot, UpstreamStatus } from '../../stack/status.js';

const now = Date.parse('2026-01-01T12:00:00Z');

function worker(instance: number, port: number, overrides: Partial<Pm2ProcessInfo> = {}): Pm2ProcessInfo {
  return {
    name: 'gatehouse-worker',
    pmId: instance * 2,
    pid: 1000 + instance,
    status: 'online',
    restarts: instance,
    memory: 64 * 1024 * 1024,
    startedAt: now - 90_000,
    port,
    host: '127.0.0.1',
    instance,
    ...overrides,
  };
}

function upstream(address: string, overrides: Partial<UpstreamStatus> = {}): UpstreamStatus {
  return {
    route: 'default',
    address,
    weight: 1,
    backup: false,
    state: 'up',
    healthy: true,
    draining: false,
    downUntil: null,
    inFlight: 2,
    requests: 40,
    failures: 1,
    latency: { samples: 0, p50: null, p95: null, p99: null },
    worker: null,
    ...overrides,
  };
}

function snapshot(upstreams: UpstreamStatus[]): StatusSnapshot {
  return {
    generatedAt: new Date(now).toISOString(),
    proxy: {
      hostname: 'proxy-host',
      pid: 77,
      version: '0.1.0',
      startedAt: new Date(now - 60_000).toISOString(),
      uptime: 60,
      requests: 80,
    },
    upstreams,
  };
}

function stack(workers: StackStatus['workers'], snap: StatusSnapshot | null, running = true): StackStatus {
  return {
    pm2: {
      home: '/tmp/pm2-home',
      running,
      error: null,
      proxy: running ? [worker(0, 0, { name: 'gatehouse-proxy', port: null })] : [],
    },
    proxy: {
      url: 'http://127.0.0.1:8081/status',
      reachable: snap !== null,
      error: snap ? null : 'ECONNREFUSED',
      snapshot: snap,
    },
    workers,
  };
}

describe('joinWorkers', () => {
  test("pairs each pm2 worker with the proxy's upstream on the same port, in instance order", () => {
    const rows = joinWorkers(
      [worker(1, 8002), worker(0, 8001)],
      snapshot([upstream('127.0.0.1:8002', { inFlight: 5 }), upstream('127.0.0.1:8001', { inFlight: 3 })]),
    );
    assert.deepEqual(
      rows.map((r) => [r.port, r.pm2?.pid, r.upstream?.inFlight]),
      [
        [8001, 1000, 3],
        [8002, 1001, 5],
      ],
    );
  });

  test('keeps upstreams no pm2 worker listens on, and workers the proxy does not balance over', () => {
    const rows = joinWorkers([worker(0, 8001)], snapshot([upstream('[::1]:9000')]));
    assert.deepEqual(
      rows.map((r) => [r.port, r.pm2 !== null, r.upstream !== null]),
      [
        [8001, true, false],
        [9000, false, true],
      ],
    );
  });

  test('without a snapshot (proxy down) every worker is still listed from pm2', () => {
    const rows = joinWorkers([worker(0, 8001), worker(1, 8002)], null);
    assert.equal(rows.length, 2);
    assert.ok(rows.every((r) => r.upstream === null && r.pm2 !== null));
  });
});

describe('renderStatus', () => {
  test('one row per worker with both views side by side, the host name from its health answers', () => {
    const snap = snapshot([
      upstream('127.0.0.1:8001', {
        state: 'down',
        healthy: false,
        requests: 12,
        failures: 4,
        worker: { hostname: 'web-3f2a', pid: 1000, instance: 0, port: 8001, healthProbes: 9 },
      }),
    ]);
    const text = renderStatus(stack(joinWorkers([worker(0, 8001, { restarts: 3 })], snap), snap), now);
    const lines = text.trimEnd().split('\n');
    const header = lines.find((l) => l.startsWith('worker'));
    assert.ok(header, text);
    for (const column of [
      'host',
      'pm2',
      'pid',
      'restarts',
      'memory',
      'uptime',
      'healthy',
      'in-flight',
      'requests',
      'failures',
    ]) {
      assert.ok(header.includes(column), `column ${column}`);
    }
    const row = lines.at(-1)!.split(/\s{2,}/);
    assert.deepEqual(row, [
      'gatehouse-worker',
      '0',
      '8001',
      'web-3f2a',
      'online',
      '1000',
      '3',
      '64.0 MiB',
      '1m',
      'down',
      'no',
      '2',
      '12',
      '4',
    ]);
  });

  test('says the proxy is unreachable and still shows the pm2 side', () => {
    const text = renderStatus(stack(joinWorkers([worker(0, 8001)], null), null), now);
    assert.match(text, /proxy http:\/\/127\.0\.0\.1:8081\/status: unreachable \(ECONNREFUSED\)/);
    assert.match(text, /gatehouse-worker\s+0\s+8001\s+-\s+online\s+1000/);
  });

  test('says when no pm2 daemon runs', () => {
    const snap = snapshot([upstream('127.0.0.1:8001')]);
    const text = renderStatus(stack(joinWorkers([], snap), snap, false), now);
    assert.match(text, /pm2: no daemon running under \/tmp\/pm2-home/);
    assert.match(text, /not in pm2/);
  });
});

describe('formatting', () => {
  test('uptime in pm2 units, and none for a process that is not online', () => {
    assert.equal(formatUptime(worker(0, 1, { startedAt: now - 5_000 }), now), '5s');
    assert.equal(formatUptime(worker(0, 1, { startedAt: now - 3 * 3_600_000 }), now), '3h');
    assert.equal(formatUptime(worker(0, 1, { status: 'stopped' }), now), '-');
  });

  test('memory in binary units', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3 * 1024 ** 3), '3.0 GiB');
  });

  test('a wildcard listen address is reached on the loopback', () => {
    assert.equal(connectAddress({ host: '0.0.0.0', port: 8081 }), '127.0.0.1:8081');
    assert.equal(connectAddress({ host: '::', port: 8081 }), '[::1]:8081');
    assert.equal(connectAddress({ host: '10.0.0.5', port: 80 }), '10.0.0.5:80');
  });
});
