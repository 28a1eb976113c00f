import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SiblingTable } from '../../proxy/static/siblings.js';

// Which .br/.gz sit beside a file, kept per folder while the folder is unchanged. The folders here
// were just made, so each call says `now` is later: a folder changed within the last second is
// never kept (file times tick coarsely), which would leave the kept path untested.

const LATER = () => Date.now() + 5_000;
/** File times tick coarsely (up to 10 ms): a change made now must get a later time than the one before. */
const nextFileTick = () => new Promise((resolve) => setTimeout(resolve, 25));
const names = (list: readonly { suffix: string }[]) => list.map((p) => p.suffix);

describe('static files: the precompressed siblings of a file', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-siblings-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('found beside the file, .br first; a folder named like a sibling is none', () => {
    const table = new SiblingTable();
    writeFileSync(join(dir, 'a.css'), 'a');
    writeFileSync(join(dir, 'a.css.gz'), 'gz');
    writeFileSync(join(dir, 'a.css.br'), 'br');
    mkdirSync(join(dir, 'b.css.gz'));
    assert.deepEqual(names(table.present(join(dir, 'a.css'), LATER())), ['.br', '.gz']);
    assert.deepEqual(names(table.present(join(dir, 'a.css'), LATER())), ['.br', '.gz']);
    assert.deepEqual(names(table.present(join(dir, 'b.css'), LATER())), []);
  });

  test('a sibling added, replaced or removed after the answer was kept is seen at the next request', async () => {
    const table = new SiblingTable();
    const folder = join(dir, 'changing');
    mkdirSync(folder);
    const file = join(folder, 'app.js');
    writeFileSync(file, 'app');
    assert.deepEqual(names(table.present(file, LATER())), []);
    await nextFileTick();
    writeFileSync(`${file}.gz`, 'gz');
    assert.deepEqual(names(table.present(file, LATER())), ['.gz']);
    await nextFileTick();
    writeFileSync(join(folder, 'next.br'), 'br');
    renameSync(join(folder, 'next.br'), `${file}.br`);
    assert.deepEqual(names(table.present(file, LATER())), ['.br', '.gz']);
    await nextFileTick();
    unlinkSync(`${file}.gz`);
    unlinkSync(`${file}.br`);
    assert.deepEqual(names(table.present(file, LATER())), []);
  });

  test('bounded: past maxFiles every kept answer is dropped, and answers stay right', () => {
    const table = new SiblingTable(2);
    for (const name of ['x', 'y', 'z']) writeFileSync(join(dir, `${name}.txt`), name);
    writeFileSync(join(dir, 'z.txt.gz'), 'gz');
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(names(table.present(join(dir, 'x.txt'), LATER())), []);
      assert.deepEqual(names(table.present(join(dir, 'y.txt'), LATER())), []);
      assert.deepEqual(names(table.present(join(dir, 'z.txt'), LATER())), ['.gz']);
    }
  });
});
