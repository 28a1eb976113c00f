import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pm2Snapshot, processKey } from '../../proxy/sources/pm2/snapshot.js';
import { fakePm2Process } from '../helpers/discovery.js';

const options = {
  app: 'gatehouse-worker',
  host: '127.0.0.1',
  port: 8001,
  maxFails: 2,
  failTimeout: 5000,
  leaving: new Set<string>(),
  crashLooping: new Set<number>(),
};

const addresses = (list: Parameters<typeof pm2Snapshot>[0], opts = options) =>
  pm2Snapshot(list, opts).servers.map((s) => s.address);

describe('pm2Snapshot', () => {
  test('one server per online instance of the app, at base + NODE_APP_INSTANCE, in instance order', () => {
    const { servers, skipped } = pm2Snapshot(
      [
        fakePm2Process({ pmId: 4, instance: 1, base: 9000 }),
        fakePm2Process({ pmId: 0, instance: 0, base: 9000 }),
        fakePm2Process({ pmId: 7, instance: 3, base: 9000, host: '127.0.0.2' }),
        fakePm2Process({ pmId: 2, instance: 0, name: 'gatehouse-proxy' }),
      ],
      options,
    );
    assert.deepEqual(
      servers.map((s) => s.address),
      ['127.0.0.1:9000', '127.0.0.1:9001', '127.0.0.2:9003'],
    );
    assert.deepEqual(skipped, []);
    // The pool's per-server settings come from the config's upstream defaults.
    assert.deepEqual(
      { weight: servers[0]!.weight, maxFails: servers[0]!.maxFails, failTimeout: servers[0]!.failTimeout },
      { weight: 1, maxFails: 2, failTimeout: 5000 },
    );
  });

  test('the flat pm2_env value wins over pm2_env.env (the flat one is the current environment)', () => {
    assert.deepEqual(addresses([fakePm2Process({ pmId: 0, instance: 2, base: 7000 })]), ['127.0.0.1:7002']);
  });

  test('without the ecosystem base a worker is found at its PORT, else at workers.port + instance', () => {
    const withPort = fakePm2Process({ pmId: 0, instance: 0 });
    withPort.pm2_env = { status: 'online', NODE_APP_INSTANCE: 0, PORT: '3000' };
    const bare = fakePm2Process({ pmId: 1, instance: 1 });
    bare.pm2_env = { status: 'online', NODE_APP_INSTANCE: 1 };
    assert.deepEqual(addresses([withPort, bare]), ['127.0.0.1:3000', '127.0.0.1:8002']);
  });

  test('left out: not online, no pid, draining (that pid only), crash-looping, a port another has', () => {
    const { servers, skipped } = pm2Snapshot(
      [
        fakePm2Process({ pmId: 0, instance: 0, base: 9000, status: 'launching' }),
        fakePm2Process({ pmId: 1, instance: 1, base: 9000, pid: 0 }),
        fakePm2Process({ pmId: 2, instance: 2, base: 9000, pid: 52 }),
        fakePm2Process({ pmId: 3, instance: 3, base: 9000, pid: 53 }),
        fakePm2Process({ pmId: 4, instance: 4, base: 9000 }),
        fakePm2Process({ pmId: 5, instance: 5, base: 9000 }),
        fakePm2Process({ pmId: 6, instance: 5, base: 9000 }),
      ],
      {
        ...options,
        leaving: new Set([processKey(2, 52), processKey(3, 99)]),
        crashLooping: new Set([4]),
      },
    );
    assert.deepEqual(
      servers.map((s) => s.address),
      ['127.0.0.1:9003', '127.0.0.1:9005'],
    );
    assert.deepEqual(skipped, [
      { pmId: 0, reason: 'pm2 status launching' },
      { pmId: 1, reason: 'no pid' },
      { pmId: 2, reason: 'draining' },
      { pmId: 4, reason: 'crash-looping' },
      { pmId: 6, reason: "127.0.0.1:9005 is pm2 id 5's too" },
    ]);
  });

  test('a base that is not a number leaves the worker out with the reason', () => {
    const bad = fakePm2Process({ pmId: 0, instance: 0 });
    bad.pm2_env = { status: 'online', NODE_APP_INSTANCE: 0, GATEHOUSE_WORKER_PORT_BASE: 'eighty' };
    assert.deepEqual(pm2Snapshot([bad], options).skipped, [{ pmId: 0, reason: 'no valid port (NaN)' }]);
  });
});
