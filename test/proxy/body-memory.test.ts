import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BodyMemory, COLLECT_EVERY, exposeCollector } from '../../proxy/body-memory.js';

describe('BodyMemory: a young-generation collection per COLLECT_EVERY body bytes', () => {
  test('collects once each time the count passes the threshold, not before', () => {
    const calls: unknown[] = [];
    const memory = new BodyMemory((options) => calls.push(options), 100);
    memory.add(60);
    assert.equal(calls.length, 0);
    memory.add(39);
    assert.equal(calls.length, 0, '99 bytes is under the threshold');
    memory.add(1);
    assert.deepEqual(calls, [{ type: 'minor', execution: 'sync' }]);
    memory.add(250);
    assert.equal(calls.length, 2, 'a large chunk collects once and starts the count again');
    assert.equal(memory.collections, 2);
  });

  test('without a collector it only counts (the runtime refused to expose one)', () => {
    const memory = new BodyMemory(null, 10);
    memory.add(1000);
    assert.equal(memory.collections, 0);
  });

  test('the default threshold is a few MiB: a few chunks, not a body', () => {
    assert.ok(COLLECT_EVERY >= 1024 * 1024 && COLLECT_EVERY <= 16 * 1024 * 1024);
  });

  test("this Node exposes V8's collector, and a minor collection runs", () => {
    const collect = exposeCollector();
    assert.equal(typeof collect, 'function');
    collect?.({ type: 'minor', execution: 'sync' });
  });
});
