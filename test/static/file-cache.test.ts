import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CACHED_FILE_MAX, FileCache } from '../../proxy/static/file-cache.js';

// The small-file cache against real files: kept while unchanged, dropped on any change, bounded.
// A file's ctime is always "just now" after a write, so `set` is told a later `now` (the cache
// refuses files changed within the last second).

const LATER = () => Date.now() + 5_000;

/** File times tick coarsely (up to 10 ms): a change made now must get a later time than the write before. */
const nextFileTick = () => new Promise((resolve) => setTimeout(resolve, 25));

describe('static files: the small-file cache', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-file-cache-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes `content` at `name` and keeps it in `cache`, as the first request does. */
  function kept(cache: FileCache, name: string, content: string): string {
    const path = join(dir, name);
    writeFileSync(path, content);
    cache.set(path, statSync(path), Buffer.from(content), LATER());
    return path;
  }

  test('an unchanged file is answered from its kept bytes', () => {
    const cache = new FileCache();
    const path = kept(cache, 'a.txt', 'alpha');
    assert.equal(cache.get(path)?.body.toString(), 'alpha');
    assert.equal(cache.get(path)?.body.toString(), 'alpha');
    assert.equal(cache.size, 1);
    assert.equal(cache.bytes, 5);
  });

  test('a write in place, even of the same size and mtime, is seen (ctime)', async () => {
    const cache = new FileCache();
    const path = kept(cache, 'b.txt', 'bravo');
    const { atime, mtime } = statSync(path);
    await nextFileTick();
    writeFileSync(path, 'BRAVO');
    utimesSync(path, atime, mtime);
    assert.equal(cache.get(path), null);
    assert.equal(cache.size, 0);
    assert.equal(cache.bytes, 0);
  });

  test('a file replaced by rename, removed, or chmodded is not answered from the cache', async () => {
    const cache = new FileCache();
    const replaced = kept(cache, 'c.txt', 'charlie');
    writeFileSync(join(dir, 'c.next'), 'CHARLIE');
    renameSync(join(dir, 'c.next'), replaced);
    assert.equal(cache.get(replaced), null);

    const removed = kept(cache, 'd.txt', 'delta');
    unlinkSync(removed);
    assert.equal(cache.get(removed), null);

    const chmodded = kept(cache, 'e.txt', 'echo');
    await nextFileTick();
    chmodSync(chmodded, 0o600);
    assert.equal(cache.get(chmodded), null, 'a chmod changes ctime: looked up again (and checked again)');
    assert.equal(cache.size, 0);
  });

  test('a file changed within the last second is not kept: one tick of file times may hide a second write', () => {
    const cache = new FileCache();
    const path = join(dir, 'f.txt');
    writeFileSync(path, 'foxtrot');
    cache.set(path, statSync(path), Buffer.from('foxtrot'), Date.now());
    assert.equal(cache.get(path), null);
    assert.equal(cache.size, 0);
  });

  test('only whole small files: a body of another size than the file, or over the limit, is not kept', () => {
    const cache = new FileCache();
    const path = join(dir, 'g.bin');
    writeFileSync(path, Buffer.alloc(CACHED_FILE_MAX + 1));
    cache.set(path, statSync(path), Buffer.alloc(CACHED_FILE_MAX + 1), LATER());
    cache.set(path, statSync(path), Buffer.alloc(10), LATER());
    assert.equal(cache.size, 0);
  });

  test('bounded in bytes: the least recently used file goes first; a hit counts as a use', () => {
    const cache = new FileCache(12);
    const one = kept(cache, 'one.txt', 'aaaa');
    const two = kept(cache, 'two.txt', 'bbbb');
    const three = kept(cache, 'three.txt', 'cccc');
    assert.equal(cache.bytes, 12);
    assert.ok(cache.get(one), 'one used again: two is now the oldest');
    kept(cache, 'four.txt', 'dddd');
    assert.equal(cache.bytes, 12);
    assert.equal(cache.get(two), null);
    assert.ok(cache.get(one));
    assert.ok(cache.get(three));
  });
});
