import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BalanceName } from '../../config/index.js';
import { type Balancer, createBalancer } from '../../proxy/pool/balancer.js';
import type { Pool } from '../../proxy/pool/pool.js';
import type { Upstream } from '../../proxy/pool/upstream.js';
import { countPicks, makePool, seededRandom, spreadClientIp, upstreamAt } from '../helpers/pool.js';

// The contract every balancing policy keeps, run against each one (as Hono runs one suite
// against every router). Policy-specific behaviour lives in balancers.test.ts.
const policies: readonly BalanceName[] = ['round_robin', 'least_conn', 'ip_hash', 'random'];
const NOW = 1_000_000;

function make(name: BalanceName): Balancer {
  return createBalancer(name, { now: () => NOW, random: seededRandom(42) });
}

function picks(
  balancer: Balancer,
  pool: Pool,
  count: number,
  exclude?: ReadonlySet<Upstream>,
): Map<string, number> {
  return countPicks(balancer, pool, count, { clientIp: spreadClientIp, ...(exclude ? { exclude } : {}) });
}

function healthState(pool: Pool): string {
  return JSON.stringify(
    pool.upstreams.map((u) => [u.healthy, u.downUntil, u.recentFails, u.failures, u.inFlight]),
  );
}

for (const name of policies) {
  describe(`balancer contract: ${name}`, () => {
    test('createBalancer returns the policy by its config name', () => {
      assert.equal(make(name).name, name);
    });

    test('every available server is eventually picked, and only servers of the pool', () => {
      const pool = makePool(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80']);
      const counts = picks(make(name), pool, 800);
      assert.deepEqual([...counts.keys()].sort(), [
        '10.0.0.1:80',
        '10.0.0.2:80',
        '10.0.0.3:80',
        '10.0.0.4:80',
      ]);
    });

    test('never picks an unhealthy, timed-out or draining server', () => {
      const pool = makePool(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80', '10.0.0.5:80']);
      upstreamAt(pool, '10.0.0.1:80').healthy = false;
      upstreamAt(pool, '10.0.0.2:80').downUntil = NOW + 1;
      upstreamAt(pool, '10.0.0.3:80').draining = true;
      const counts = picks(make(name), pool, 800);
      assert.deepEqual([...counts.keys()].sort(), ['10.0.0.4:80', '10.0.0.5:80']);
    });

    test('picks a server again once its fail_timeout has passed', () => {
      const pool = makePool(['10.0.0.1:80', '10.0.0.2:80']);
      upstreamAt(pool, '10.0.0.1:80').downUntil = NOW;
      const counts = picks(make(name), pool, 400);
      assert.ok((counts.get('10.0.0.1:80') ?? 0) > 0, JSON.stringify([...counts]));
    });

    test('never picks a server this request already tried', () => {
      const pool = makePool(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80', '10.0.0.4:80']);
      const exclude = new Set([upstreamAt(pool, '10.0.0.1:80'), upstreamAt(pool, '10.0.0.3:80')]);
      const counts = picks(make(name), pool, 800, exclude);
      assert.deepEqual([...counts.keys()].sort(), ['10.0.0.2:80', '10.0.0.4:80']);
    });

    test('returns null when every server is unavailable or already tried', () => {
      const pool = makePool(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
      upstreamAt(pool, '10.0.0.1:80').healthy = false;
      upstreamAt(pool, '10.0.0.2:80').downUntil = NOW + 60_000;
      const balancer = make(name);
      assert.equal(balancer.pick(pool, '10.1.2.3', new Set([upstreamAt(pool, '10.0.0.3:80')])), null);
      upstreamAt(pool, '10.0.0.3:80').healthy = false;
      assert.equal(balancer.pick(pool, '10.1.2.3', new Set()), null);
    });

    test('returns null for an empty pool', () => {
      assert.equal(make(name).pick(makePool([]), '10.1.2.3', new Set()), null);
    });

    test('a single available server is always picked', () => {
      const pool = makePool(['10.0.0.1:80']);
      assert.deepEqual([...picks(make(name), pool, 50)], [['10.0.0.1:80', 50]]);
    });

    test('never picks a backup while a primary is available', () => {
      const pool = makePool(['10.0.0.1:80', '10.0.0.2:80', { address: '10.0.0.9:80', backup: true }]);
      upstreamAt(pool, '10.0.0.1:80').healthy = false;
      const counts = picks(make(name), pool, 400);
      assert.deepEqual([...counts], [['10.0.0.2:80', 400]]);
    });

    test('picks backups once every primary is down or already tried', () => {
      const pool = makePool([
        '10.0.0.1:80',
        '10.0.0.2:80',
        { address: '10.0.0.8:80', backup: true },
        { address: '10.0.0.9:80', backup: true },
      ]);
      upstreamAt(pool, '10.0.0.1:80').healthy = false;
      const tried = new Set([upstreamAt(pool, '10.0.0.2:80')]);
      assert.deepEqual([...picks(make(name), pool, 400, tried).keys()].sort(), [
        '10.0.0.8:80',
        '10.0.0.9:80',
      ]);
      upstreamAt(pool, '10.0.0.2:80').downUntil = NOW + 1;
      assert.deepEqual([...picks(make(name), pool, 400).keys()].sort(), ['10.0.0.8:80', '10.0.0.9:80']);
    });

    test('weights are respected over many picks (3:1 within five points)', () => {
      const pool = makePool([{ address: '10.0.0.1:80', weight: 3 }, '10.0.0.2:80']);
      const counts = picks(make(name), pool, 4000);
      const share = (counts.get('10.0.0.1:80') ?? 0) / 4000;
      assert.ok(Math.abs(share - 0.75) <= 0.05, `heavy server share ${share}`);
      assert.equal((counts.get('10.0.0.1:80') ?? 0) + (counts.get('10.0.0.2:80') ?? 0), 4000);
    });

    test('picking never changes health or counters', () => {
      const pool = makePool(['10.0.0.1:80', '10.0.0.2:80', { address: '10.0.0.9:80', backup: true }]);
      upstreamAt(pool, '10.0.0.1:80').downUntil = NOW + 5;
      upstreamAt(pool, '10.0.0.2:80').inFlight = 2;
      const before = healthState(pool);
      picks(make(name), pool, 200);
      assert.equal(healthState(pool), before);
    });
  });
}
