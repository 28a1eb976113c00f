import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLatencyBook, LatencyRing } from '../../proxy/status/latency.js';

describe('LatencyRing', () => {
  test('reports null percentiles before the first sample', () => {
    assert.deepEqual(new LatencyRing(8).percentiles(), { samples: 0, p50: null, p95: null, p99: null });
  });

  test('computes nearest-rank p50, p95 and p99 over 1..100 recorded out of order', () => {
    const ring = new LatencyRing(128);
    const values = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1);
    for (const v of values) ring.record(v);
    assert.deepEqual(ring.percentiles(), { samples: 100, p50: 50, p95: 95, p99: 99 });
  });

  test('keeps only the last capacity samples once it wraps', () => {
    const ring = new LatencyRing(4);
    for (const v of [1000, 1000, 1000, 1, 2, 3, 4]) ring.record(v);
    assert.equal(ring.size, 4);
    const { p50, p99 } = ring.percentiles();
    assert.equal(p50, 2);
    assert.equal(p99, 4);
  });

  test('sorts numerically, not as strings (9 < 10 < 100)', () => {
    const ring = new LatencyRing(3);
    for (const v of [100, 9, 10]) ring.record(v);
    assert.equal(ring.percentiles().p50, 10);
  });

  test('ignores NaN and negative samples', () => {
    const ring = new LatencyRing(4);
    ring.record(Number.NaN);
    ring.record(-1);
    ring.record(5);
    assert.deepEqual(ring.percentiles(), { samples: 1, p50: 5, p95: 5, p99: 5 });
  });

  test('reading percentiles leaves the ring unchanged', () => {
    const ring = new LatencyRing(4);
    for (const v of [4, 3, 2, 1]) ring.record(v);
    ring.percentiles();
    ring.record(10); // overwrites the oldest (4), which a sort in place would have moved
    assert.deepEqual(ring.percentiles(), { samples: 4, p50: 2, p95: 10, p99: 10 });
  });

  test('rejects a capacity that is not a positive integer', () => {
    assert.throws(() => new LatencyRing(0), RangeError);
    assert.throws(() => new LatencyRing(1.5), RangeError);
  });
});

describe('createLatencyBook', () => {
  test('keeps a separate ring per upstream', () => {
    const book = createLatencyBook({ capacity: 16 });
    book.record('a:1', 1);
    book.record('b:1', 100);
    assert.equal(book.percentiles('a:1').p50, 1);
    assert.equal(book.percentiles('b:1').p50, 100);
    assert.equal(book.percentiles('c:1').samples, 0);
  });

  test('retain drops upstreams that left the pool and keeps the rest', () => {
    const book = createLatencyBook();
    book.record('a:1', 1);
    book.record('b:1', 2);
    book.retain(['b:1']);
    assert.equal(book.percentiles('a:1').samples, 0);
    assert.equal(book.percentiles('b:1').samples, 1);
  });
});
