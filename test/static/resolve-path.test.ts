import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { normalizePath } from '../../proxy/routes/target.js';
import { filePathFor, resolveFile as open, type Resolved } from '../../proxy/static/resolve-path.js';

/** resolveFile, its descriptor closed: these tests look at the answer, not the file's bytes. */
function resolveFile(root: string, candidate: string): Resolved {
  const found = open(root, candidate);
  if (found.kind === 'file') closeSync(found.fd);
  return found;
}

/** The path a request names under `root`, as the proxy derives it: normalised first, then mapped. */
function mapped(root: string, requestPath: string): string | null {
  const normalized = normalizePath(requestPath);
  return normalized === null ? null : filePathFor(root, normalized);
}

describe('static files: from a request path to a file under the root', () => {
  const root = '/srv/site';

  test('a plain path lands under the root; a trailing slash is kept (the directory index)', () => {
    assert.equal(mapped(root, '/static/site.css'), '/srv/site/static/site.css');
    assert.equal(mapped(root, '/static/'), '/srv/site/static/');
    assert.equal(mapped(root, '/'), '/srv/site/');
  });

  test('escapes are decoded; UTF-8 names come out as UTF-8', () => {
    assert.equal(mapped(root, '/static/a%20b.txt'), '/srv/site/static/a b.txt');
    assert.equal(mapped(root, '/static/%C3%A9t%C3%A9.txt'), '/srv/site/static/été.txt');
  });

  test('dot segments, plain or encoded, resolve inside "/" and never above the root', () => {
    assert.equal(mapped(root, '/static/../x'), '/srv/site/x');
    assert.equal(mapped(root, '/static/%2e%2e/x'), '/srv/site/x');
    assert.equal(mapped(root, '/static/%2e%2e%2fx'), '/srv/site/x');
    assert.equal(mapped(root, '/static/.%2E/./x'), '/srv/site/x');
  });

  test('a path climbing above "/" or holding NUL never reaches the file system (the router answers 400)', () => {
    assert.equal(mapped(root, '/../etc/passwd'), null);
    assert.equal(mapped(root, '/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd'), null);
    assert.equal(mapped(root, '/static/..%2f..%2f..%2fetc/passwd'), null);
    assert.equal(mapped(root, '/static/.%2E/.%2e/etc/passwd'), null);
    assert.equal(mapped(root, '/static/x.css%00.txt'), null);
  });

  test('the mapper refuses what a caller might pass without normalising: "..", ".", NUL, no leading slash', () => {
    assert.equal(filePathFor(root, '/static/../../etc/passwd'), null);
    assert.equal(filePathFor(root, '/static/./x'), null);
    assert.equal(filePathFor(root, '/x\0.txt'), null);
    assert.equal(filePathFor(root, 'etc/passwd'), null);
  });

  test('a backslash is part of a name on POSIX, so it stays inside the root', () => {
    assert.equal(mapped(root, '/static/..%5c..%5cetc%5cpasswd'), '/srv/site/static/..\\..\\etc\\passwd');
  });
});

describe('static files: what the file system says', () => {
  let dir = '';
  let root = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-static-'));
    root = join(dir, 'root');
    mkdirSync(join(root, 'docs'), { recursive: true });
    mkdirSync(join(root, 'empty'));
    mkdirSync(join(dir, 'outside'));
    writeFileSync(join(root, 'a.txt'), 'a');
    writeFileSync(join(root, 'docs', 'index.html'), '<p>docs</p>');
    writeFileSync(join(dir, 'outside', 'secret.txt'), 'secret');
    symlinkSync(join(dir, 'outside', 'secret.txt'), join(root, 'escape.txt'));
    symlinkSync(join(dir, 'outside'), join(root, 'escape-dir'));
    symlinkSync(join(root, 'a.txt'), join(root, 'inside-link.txt'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a regular file is served by its real path', () => {
    const found = resolveFile(root, join(root, 'a.txt'));
    assert.equal(found.kind, 'file');
    assert.ok(found.kind === 'file' && found.stats.size === 1);
  });

  test('a directory: with its slash, its index.html; without, a redirect; without an index, missing', () => {
    const index = resolveFile(root, `${join(root, 'docs')}/`);
    assert.ok(index.kind === 'file' && index.path.endsWith(join('docs', 'index.html')));
    assert.equal(resolveFile(root, join(root, 'docs')).kind, 'directory');
    assert.equal(resolveFile(root, `${join(root, 'empty')}/`).kind, 'missing');
  });

  test('a missing file, and a file asked for as a directory, are missing', () => {
    assert.equal(resolveFile(root, join(root, 'nope.txt')).kind, 'missing');
    assert.equal(resolveFile(root, `${join(root, 'a.txt')}/`).kind, 'missing');
  });

  test('a symlink out of the root is missing, file or folder; one that stays inside is served', () => {
    assert.equal(resolveFile(root, join(root, 'escape.txt')).kind, 'missing');
    assert.equal(resolveFile(root, join(root, 'escape-dir', 'secret.txt')).kind, 'missing');
    assert.equal(resolveFile(root, join(root, 'escape-dir')).kind, 'missing');
    const inside = resolveFile(root, join(root, 'inside-link.txt'));
    assert.ok(inside.kind === 'file' && inside.path.endsWith('a.txt'));
  });

  test('a root that is a symlink swapped to a new release is followed at the next request', () => {
    const releases = join(dir, 'releases');
    mkdirSync(join(releases, 'one'), { recursive: true });
    mkdirSync(join(releases, 'two'));
    writeFileSync(join(releases, 'one', 'app.js'), 'one');
    writeFileSync(join(releases, 'two', 'app.js'), 'two, longer');
    const current = join(dir, 'current');
    symlinkSync(join(releases, 'one'), current);
    const first = resolveFile(current, join(current, 'app.js'));
    assert.ok(first.kind === 'file' && first.stats.size === 3);
    // The deploy: a new link renamed over the old one (atomic).
    symlinkSync(join(releases, 'two'), join(dir, 'current.next'));
    renameSync(join(dir, 'current.next'), current);
    const swapped = resolveFile(current, join(current, 'app.js'));
    assert.ok(swapped.kind === 'file' && swapped.path === join(releases, 'two', 'app.js'), swapped.kind);
    // The old release is no longer the root: a path into it from outside the new one is refused.
    symlinkSync(join(dir, 'outside'), join(releases, 'two', 'out'));
    assert.equal(resolveFile(current, join(current, 'out', 'secret.txt')).kind, 'missing');
  });
});
