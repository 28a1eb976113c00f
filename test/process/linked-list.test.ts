import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Linked, LinkedList } from '../../process/linked-list.js';

class Entry extends Linked {
  constructor(readonly name: string) {
    super();
  }
}

const entry = (name: string) => new Entry(name);

const names = (list: LinkedList<Entry>) => [...list].map((e) => e.name);

describe('LinkedList', () => {
  it('holds each entry once, newest first, and counts them', () => {
    const list = new LinkedList<Entry>();
    const [a, b, c] = [entry('a'), entry('b'), entry('c')];
    list.add(a);
    list.add(b);
    list.add(c);
    list.add(b);
    assert.deepEqual(names(list), ['c', 'b', 'a']);
    assert.equal(list.size, 3);
  });

  it('deletes from the head, the middle and the tail; a second delete does nothing', () => {
    const list = new LinkedList<Entry>();
    const entries = ['a', 'b', 'c', 'd'].map(entry);
    for (const e of entries) list.add(e);
    list.delete(entries[1]!);
    list.delete(entries[1]!);
    assert.deepEqual(names(list), ['d', 'c', 'a']);
    list.delete(entries[3]!);
    assert.deepEqual(names(list), ['c', 'a']);
    list.delete(entries[0]!);
    assert.deepEqual(names(list), ['c']);
    assert.equal(list.size, 1);
    list.delete(entry('never added'));
    assert.equal(list.size, 1);
  });

  it('clears the links of an entry that left, so it points at nothing', () => {
    const list = new LinkedList<Entry>();
    const [a, b, c] = [entry('a'), entry('b'), entry('c')];
    for (const e of [a, b, c]) list.add(e);
    list.delete(b);
    assert.equal(b.prev, null);
    assert.equal(b.next, null);
    assert.equal(b.linked, false);
    assert.equal(c.next, a);
    assert.equal(a.prev, c);
  });

  it('visits every entry while each one leaves as it is visited', () => {
    const list = new LinkedList<Entry>();
    for (const name of ['a', 'b', 'c']) list.add(entry(name));
    const seen: string[] = [];
    for (const e of list) {
      seen.push(e.name);
      list.delete(e);
    }
    assert.deepEqual(seen, ['c', 'b', 'a']);
    assert.equal(list.size, 0);
    assert.deepEqual(names(list), []);
  });

  it('skips an entry that left before its turn, and can take entries back', () => {
    const list = new LinkedList<Entry>();
    const [a, b, c] = [entry('a'), entry('b'), entry('c')];
    for (const e of [a, b, c]) list.add(e);
    const seen: string[] = [];
    for (const e of list) {
      seen.push(e.name);
      if (e === c) list.delete(b);
    }
    assert.deepEqual(seen, ['c', 'a']);
    list.add(b);
    assert.deepEqual(names(list), ['b', 'c', 'a']);
  });
});
