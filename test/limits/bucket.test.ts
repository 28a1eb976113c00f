import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  admit,
  type BucketLimit,
  excessWith,
  freshBucket,
  isIdle,
  retryAfterSeconds,
} from '../../proxy/limits/bucket.js';

/** 10r/s burst=5, as config/limits.ts resolves it. */
const TEN: BucketLimit = { rate: 10_000, burst: 5_000, nodelay: false };

/** Requests at the given times (ms) after a first one at 0 (which made the bucket). */
function run(limit: BucketLimit, times: number[]) {
  const bucket = freshBucket(0);
  return times.map((t) => admit(bucket, t, limit));
}

describe('leaky bucket (nginx limit_req arithmetic)', () => {
  test('a burst at one instant: the first request is on time, the next `burst` are delayed 100, 200… ms, the rest refused', () => {
    const out = run(TEN, [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(
      out.map((a) => (a.pass ? a.delay : 'refused')),
      [100, 200, 300, 400, 500, 'refused', 'refused', 'refused'],
    );
  });

  test('with nodelay the same requests pass at once but still fill the burst', () => {
    const out = run({ ...TEN, nodelay: true }, [0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(
      out.map((a) => (a.pass ? a.delay : 'refused')),
      [0, 0, 0, 0, 0, 'refused', 'refused'],
    );
  });

  test('without a burst, a second request inside 1/rate is refused and one after it passes', () => {
    const limit = { rate: 10_000, burst: 0, nodelay: false };
    const out = run(limit, [99, 100, 150, 200]);
    assert.deepEqual(
      out.map((a) => a.pass),
      [false, true, false, true],
    );
  });

  test('excess leaks at the rate in whole milli-requests, never below 0', () => {
    const bucket = { excess: 3_000, last: 1_000 };
    assert.equal(excessWith(bucket, 1_000, TEN), 4_000);
    assert.equal(excessWith(bucket, 1_150, TEN), 2_500);
    assert.equal(excessWith(bucket, 60_000, TEN), 0);
    // 30r/m = 500 milli-requests a second: 1 ms leaks 0.5, truncated to 0 (nginx's integers).
    assert.equal(excessWith({ excess: 0, last: 0 }, 1, { rate: 500, burst: 0, nodelay: false }), 1_000);
    // A clock that went back counts as time passed (nginx: ngx_abs).
    assert.equal(excessWith(bucket, 900, TEN), 3_000);
  });

  test('a refused request leaves the bucket as it was; a passed one moves it', () => {
    const bucket = { excess: 5_000, last: 0 };
    const refused = admit(bucket, 0, TEN);
    assert.equal(refused.pass, false);
    assert.deepEqual(bucket, { excess: 5_000, last: 0 });
    const passed = admit(bucket, 100, TEN);
    assert.deepEqual(passed, { pass: true, delay: 500, excess: 5_000 });
    assert.deepEqual(bucket, { excess: 5_000, last: 100 });
  });

  test('Retry-After: the whole seconds until the excess fits the burst again, rounded up, at least 1', () => {
    assert.equal(retryAfterSeconds(6_000, TEN), 1); // 100 ms
    assert.equal(retryAfterSeconds(5_001, TEN), 1);
    const perMinute = { rate: 500, burst: 0, nodelay: false }; // 30r/m
    assert.equal(retryAfterSeconds(1_000, perMinute), 2);
    assert.equal(retryAfterSeconds(400, perMinute), 1);
    const oneAMinute = { rate: 16, burst: 2_000, nodelay: true }; // 1r/m: 62.5 s a request
    assert.equal(retryAfterSeconds(3_000, oneAMinute), 63);
    const refused = run({ ...TEN, burst: 0 }, [0, 10]).at(-1);
    assert.deepEqual(refused, { pass: false, retryAfter: 1, excess: 900 });
  });

  test('a bucket is idle once it leaked empty and sat a minute (nginx frees such nodes)', () => {
    assert.equal(isIdle({ excess: 0, last: 0 }, 59_999, TEN), false);
    assert.equal(isIdle({ excess: 0, last: 0 }, 60_000, TEN), true);
    // 1r/m with 5 requests of excess: still draining after a minute.
    assert.equal(
      isIdle({ excess: 5_000, last: 0 }, 60_000, { rate: 16, burst: 5_000, nodelay: false }),
      false,
    );
  });
});
