import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BucketLimit } from '../../proxy/limits/bucket.js';
import { LimitTable } from '../../proxy/limits/table.js';

const NO_BURST: BucketLimit = { rate: 1_000, burst: 0, nodelay: true };

function tableAt(limit: BucketLimit, capacity: number) {
  const clock = { now: 0 };
  return { table: new LimitTable(limit, capacity, () => clock.now), clock };
}

describe('limit table (keys → buckets, bounded)', () => {
  test('each key has its own bucket', () => {
    const { table } = tableAt(NO_BURST, 10);
    assert.equal(table.take('a').pass, true);
    assert.equal(table.take('a').pass, false);
    assert.equal(table.take('b').pass, true);
    assert.equal(table.take('b').pass, false);
  });

  test('a flood of distinct keys never holds more than the capacity', () => {
    const { table } = tableAt(NO_BURST, 1_000);
    for (let i = 0; i < 50_000; i++) {
      table.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      assert.ok(table.size <= 1_000);
    }
    assert.equal(table.size, 1_000);
  });

  test('full: the least recently seen key is forgotten (and starts again with a fresh bucket), not a busy one', () => {
    const { table } = tableAt(NO_BURST, 3);
    table.take('a');
    table.take('b');
    table.take('c');
    assert.equal(table.take('a').pass, false); // seen again: now the most recent
    table.take('d'); // pushes out b, the least recently seen
    assert.equal(table.size, 3);
    assert.equal(table.take('a').pass, false, 'a kept its bucket');
    assert.equal(table.take('c').pass, false, 'c kept its bucket');
    assert.equal(table.take('b').pass, true, 'b was forgotten: a fresh bucket');
  });

  test('a new key frees up to two of the oldest buckets that leaked empty and sat a minute', () => {
    const { table, clock } = tableAt(NO_BURST, 100);
    for (const key of ['a', 'b', 'c']) table.take(key);
    clock.now = 59_999;
    table.take('d');
    assert.equal(table.size, 4, 'nothing idle a minute yet');
    clock.now = 61_000;
    table.take('e');
    assert.equal(table.size, 3, 'a and b freed, c (third oldest) waits for the next new key');
    table.take('f');
    assert.equal(table.size, 3, 'c freed; d is not idle yet');
  });
});
