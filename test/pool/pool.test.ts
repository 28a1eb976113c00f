import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Pool } from '../../proxy/pool/pool.js';
import { makePool, serverConfig, upstreamAt } from '../helpers/pool.js';

describe('Pool', () => {
  test('splits primaries from backups and sums their weights', () => {
    const pool = makePool([
      { address: '10.0.0.1:80', weight: 3 },
      { address: '10.0.0.9:80', backup: true, weight: 2 },
      '10.0.0.2:80',
    ]);
    assert.deepEqual(
      pool.primary.map((u) => u.address),
      ['10.0.0.1:80', '10.0.0.2:80'],
    );
    assert.deepEqual(
      pool.backup.map((u) => u.address),
      ['10.0.0.9:80'],
    );
    assert.equal(pool.upstreams.length, 3);
    assert.equal(pool.size, 3);
    assert.equal(pool.primaryWeight, 4);
    assert.equal(pool.backupWeight, 2);
  });

  test('find returns the upstream at an address, undefined for others', () => {
    const pool = makePool(['10.0.0.1:80', '[::1]:8001']);
    assert.equal(pool.find('[::1]:8001')?.host, '::1');
    assert.equal(pool.find('10.0.0.3:80'), undefined);
  });

  test('is immutable', () => {
    const pool = makePool(['10.0.0.1:80']);
    assert.throws(() => (pool.upstreams as unknown[]).push(1), TypeError);
    assert.throws(() => (pool.primary as unknown[]).pop(), TypeError);
    assert.ok(Object.isFrozen(pool));
  });
});

describe('Pool.fromServers', () => {
  test('keeps the Upstream, with its live counters and health, of every unchanged server', () => {
    const before = makePool(['10.0.0.1:80', '10.0.0.2:80']);
    const kept = upstreamAt(before, '10.0.0.1:80');
    kept.inFlight = 4;
    kept.requests = 100;
    kept.healthy = false;
    kept.downUntil = 12_345;

    const after = Pool.fromServers([serverConfig('10.0.0.1:80'), serverConfig('10.0.0.3:80')], before);
    assert.equal(after.find('10.0.0.1:80'), kept);
    assert.deepEqual([kept.inFlight, kept.requests, kept.healthy, kept.downUntil], [4, 100, false, 12_345]);
  });

  test('creates fresh upstreams for new servers and drops removed ones', () => {
    const before = makePool(['10.0.0.1:80', '10.0.0.2:80']);
    upstreamAt(before, '10.0.0.2:80').healthy = false;
    const after = Pool.fromServers([serverConfig('10.0.0.1:80'), serverConfig('10.0.0.3:80')], before);
    assert.equal(after.find('10.0.0.2:80'), undefined);
    const added = upstreamAt(after, '10.0.0.3:80');
    assert.deepEqual([added.healthy, added.inFlight, added.requests], [true, 0, 0]);
  });

  test('a server whose settings changed gets a new Upstream with those settings', () => {
    const before = makePool(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
    const after = Pool.fromServers(
      [
        serverConfig({ address: '10.0.0.1:80', weight: 5 }),
        serverConfig({ address: '10.0.0.2:80', backup: true }),
        serverConfig({ address: '10.0.0.3:80', failTimeout: 1_000 }),
      ],
      before,
    );
    for (const upstream of after.upstreams) assert.notEqual(upstream, before.find(upstream.address));
    assert.equal(upstreamAt(after, '10.0.0.1:80').weight, 5);
    assert.equal(upstreamAt(after, '10.0.0.2:80').backup, true);
    assert.equal(upstreamAt(after, '10.0.0.3:80').failTimeout, 1_000);
  });

  test('servers listed twice each keep their own Upstream', () => {
    const before = makePool(['10.0.0.1:80', '10.0.0.1:80']);
    const [first, second] = before.upstreams;
    assert.notEqual(first, second);
    const after = Pool.fromServers([serverConfig('10.0.0.1:80'), serverConfig('10.0.0.1:80')], before);
    assert.ok(after.upstreams[0] === first && after.upstreams[1] === second);
  });

  test('without a previous pool every server is new and order is kept', () => {
    const pool = Pool.fromServers([serverConfig('b:1'), serverConfig('a:1')]);
    assert.deepEqual(
      pool.upstreams.map((u) => u.address),
      ['b:1', 'a:1'],
    );
  });
});
