import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Upstream } from '../../proxy/pool/upstream.js';

function upstream(maxFails: number, failTimeout = 10_000): Upstream {
  return new Upstream({ address: '10.0.0.1:80', host: '10.0.0.1', port: 80, maxFails, failTimeout });
}

describe('Upstream passive health (max_fails within fail_timeout)', () => {
  test('a new upstream is available', () => {
    assert.equal(upstream(1).available(0), true);
  });

  test('max_fails failures within fail_timeout take it out for fail_timeout from the last failure', () => {
    const u = upstream(2);
    u.recordFailure(1_000);
    assert.equal(u.available(1_001), true);
    u.recordFailure(6_000);
    assert.equal(u.available(6_000), false);
    assert.equal(u.available(15_999), false);
    assert.equal(u.available(16_000), true);
  });

  test('failures further apart than fail_timeout never add up', () => {
    const u = upstream(2);
    u.recordFailure(0);
    u.recordFailure(10_001);
    u.recordFailure(20_002);
    assert.equal(u.available(20_002), true);
    assert.equal(u.failures, 3);
  });

  test('a success between failures does not forgive them within the window', () => {
    const u = upstream(2);
    u.recordFailure(0);
    u.recordSuccess(1_000);
    u.recordFailure(2_000);
    assert.equal(u.available(2_000), false);
  });

  test('back after its time out, one failure sends it out again for fail_timeout', () => {
    const u = upstream(3);
    for (const t of [0, 1, 2]) u.recordFailure(t);
    assert.equal(u.available(10_002), true);
    u.recordFailure(10_500);
    assert.equal(u.available(10_501), false);
    assert.equal(u.available(20_500), true);
  });

  test('a success after the time out ends probation: it takes max_fails failures again', () => {
    const u = upstream(2);
    u.recordFailure(0);
    u.recordFailure(1);
    u.recordSuccess(10_001);
    assert.equal(u.downUntil, 0);
    u.recordFailure(10_500);
    assert.equal(u.available(10_500), true);
    u.recordFailure(10_600);
    assert.equal(u.available(10_600), false);
  });

  test('a late success while still out does not bring it back early', () => {
    const u = upstream(1);
    u.recordFailure(0);
    u.recordSuccess(5_000);
    assert.equal(u.available(5_000), false);
  });

  test('max_fails 0 turns passive health off but failures are still counted', () => {
    const u = upstream(0);
    for (let t = 0; t < 10; t++) u.recordFailure(t);
    assert.equal(u.available(10), true);
    assert.equal(u.failures, 10);
  });

  test('active health (healthy=false) and draining take it out whatever the passive state', () => {
    const u = upstream(1);
    u.healthy = false;
    assert.equal(u.available(0), false);
    u.healthy = true;
    u.draining = true;
    assert.equal(u.available(0), false);
  });

  test('defaults are nginx’s: weight 1, max_fails 1, fail_timeout 10 s, not a backup', () => {
    const u = new Upstream({ address: 'a:80', host: 'a', port: 80 });
    assert.deepEqual([u.weight, u.maxFails, u.failTimeout, u.backup], [1, 1, 10_000, false]);
  });
});
