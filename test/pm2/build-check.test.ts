import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../config/index.js';
import { buildIfStale, readBuildLayout, staleSource } from '../../deploy/pm2/build-check.js';
import { watchArgs, workersProject } from '../../deploy/pm2/compiler.js';
import { waitFor } from '../helpers/wait.js';

/** A project of its own: tsconfig.json with src/ and test/, compiled to dist/ (as this repo is). */
function project(): {
  root: string;
  write(path: string, text: string, mtime?: number): void;
  remove(): void;
} {
  const root = mkdtempSync(join(tmpdir(), 'gh-build-'));
  const write = (path: string, text: string, mtime?: number) => {
    const file = join(root, path);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, text);
    if (mtime !== undefined) utimesSync(file, mtime / 1000, mtime / 1000);
  };
  write(
    'tsconfig.json',
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        strict: true,
        rootDir: '.',
        outDir: 'dist',
        types: [],
      },
      include: ['src', 'test'],
    }),
  );
  return { root, write, remove: () => rmSync(root, { recursive: true, force: true, maxRetries: 3 }) };
}

const T = Date.parse('2026-01-01T12:00:00Z');

// File times come from the kernel's coarse clock (a few ms a tick): an edit right after a build
// could carry the build's own time. A person's edit comes seconds later.
const nextTick = () => sleep(30);

describe('is the build up to date (what lets npm start skip tsc)', () => {
  test('every source older than its compiled file: up to date', (t) => {
    const p = project();
    t.after(p.remove);
    p.write(
      'tsconfig.json',
      '{"compilerOptions":{"rootDir":".","outDir":"dist"},"include":["src","test"],"exclude":["test/served-as-ts"]}',
      T,
    );
    p.write('src/a.ts', 'export const a = 1;', T);
    p.write('src/types.d.ts', 'declare const x: number;', T + 60_000);
    p.write('src/deep/b.ts', 'export const b = 1;', T);
    // A folder tsconfig.json excludes: a TypeScript app served as its .ts (a test fixture).
    p.write('test/served-as-ts/server.ts', 'export default 1;', T + 60_000);
    p.write('dist/src/a.js', '', T + 1000);
    p.write('dist/src/deep/b.js', '', T + 1000);
    assert.equal(
      staleSource(readBuildLayout(p.root)),
      null,
      'a declaration file and an excluded folder compile to nothing',
    );
  });

  test('a source newer than its output, or without one, or a newer tsconfig.json: stale, and which', (t) => {
    const p = project();
    t.after(p.remove);
    p.write('tsconfig.json', '{"compilerOptions":{"rootDir":".","outDir":"dist"},"include":["src"]}', T);
    p.write('src/a.ts', 'export const a = 1;', T);
    p.write('dist/src/a.js', '', T + 1000);
    p.write('src/new.ts', 'export const n = 1;', T);
    assert.equal(staleSource(readBuildLayout(p.root)), join('src', 'new.ts'));
    p.write('dist/src/new.js', '', T + 1000);
    p.write('src/a.ts', 'export const a = 2;', T + 5000);
    assert.equal(staleSource(readBuildLayout(p.root)), join('src', 'a.ts'));
    p.write('dist/src/a.js', '', T + 6000);
    assert.equal(staleSource(readBuildLayout(p.root)), null);
    p.write(
      'tsconfig.json',
      '{"compilerOptions":{"rootDir":".","outDir":"dist"},"include":["src"]}',
      T + 7000,
    );
    assert.equal(staleSource(readBuildLayout(p.root)), 'tsconfig.json');
  });

  test('an installed package (compiled, no tsconfig.json): nothing to compile, and says so', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'gh-installed-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const lines: string[] = [];
    const result = await buildIfStale(root, (line) => lines.push(line), new PassThrough());
    assert.deepEqual(result, { action: 'skipped' });
    assert.deepEqual(lines, ['gatehouse: an installed package (no tsconfig.json), not compiling']);
  });

  test('compiles when stale and says so; a second run with nothing changed skips tsc; a failed build is not skipped', async (t) => {
    const p = project();
    t.after(p.remove);
    p.write('src/a.ts', 'export const a: number = 1;\n');
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);
    const output = new PassThrough();
    let tscSaid = '';
    output.on('data', (chunk: Buffer) => {
      tscSaid += chunk;
    });

    assert.deepEqual(await buildIfStale(p.root, log, output), { action: 'compiled' });
    assert.equal(lines[0], `gatehouse: ${join('src', 'a.ts')} changed since the last build; compiling (tsc)`);
    assert.match(lines[1] ?? '', /^gatehouse: compiled in \d+\.\d s$/);
    assert.ok(existsSync(join(p.root, 'dist', 'src', 'a.js')));

    lines.length = 0;
    assert.deepEqual(await buildIfStale(p.root, log, output), { action: 'skipped' });
    assert.deepEqual(lines, ['gatehouse: build up to date, not compiling']);

    // tsc emits even when it finds errors: the next start must not take that output as a good build.
    await nextTick();
    p.write('src/a.ts', 'export const a: number = "one";\n');
    lines.length = 0;
    const failed = await buildIfStale(p.root, log, output);
    assert.equal(failed.action, 'failed');
    assert.match(tscSaid, /TS2322/);
    lines.length = 0;
    assert.equal((await buildIfStale(p.root, log, output)).action, 'failed');
    assert.equal(lines[0], 'gatehouse: the last build failed; compiling (tsc)');

    await nextTick();
    p.write('src/a.ts', 'export const a: number = 3;\n');
    assert.deepEqual(await buildIfStale(p.root, log, output), { action: 'compiled' });
    lines.length = 0;
    assert.deepEqual(await buildIfStale(p.root, log, output), { action: 'skipped' });

    // Touched, not changed: tsc rewrites nothing, and the build still counts as current after it.
    await nextTick();
    p.write('src/a.ts', 'export const a: number = 3;\n');
    assert.deepEqual(await buildIfStale(p.root, log, output), { action: 'compiled' });
    assert.deepEqual(await buildIfStale(p.root, log, output), { action: 'skipped' });
  });

  test("development: up's build leaves the build info tsc --watch starts from; its first pass writes nothing, a type error writes nothing and it watches on", async (t) => {
    const p = project();
    // Built by hand (as `npm run build` does): current, but without tsc's incremental build info.
    p.write('tsconfig.json', readFileSync(join(p.root, 'tsconfig.json'), 'utf8'), T);
    p.write('src/a.ts', 'export const a: number = 1;\n', T);
    p.write('dist/src/a.js', '', T + 1000);
    const lines: string[] = [];
    const output = new PassThrough().resume();
    assert.deepEqual(await buildIfStale(p.root, () => {}, output), { action: 'skipped' });
    assert.deepEqual(await buildIfStale(p.root, (l) => lines.push(l), output, { buildInfo: true }), {
      action: 'compiled',
    });
    assert.match(lines[0] ?? '', /no incremental build info yet/);
    const compiled = join(p.root, 'dist', 'src', 'a.js');
    const builtAt = statSync(compiled).mtimeMs;

    // The watcher the development profile runs for this project (its own tsconfig at the root).
    const workers = workersProject(loadConfig({ env: {} }), p.root);
    assert.ok(workers);
    const watcher = spawn(process.execPath, [workers.tsc, ...watchArgs(workers)], {
      cwd: p.root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Before the folder goes (the hooks run in order, and p.remove's came first): a watcher still
    // writing into it made rmSync fail with ENOTEMPTY once in CI.
    t.after(async () => {
      if (watcher.exitCode === null && watcher.signalCode === null) {
        const exited = new Promise((resolve) => watcher.once('exit', resolve));
        watcher.kill('SIGKILL');
        await exited;
      }
      p.remove();
    });
    let said = '';
    for (const stream of [watcher.stdout, watcher.stderr]) {
      stream.setEncoding('utf8').on('data', (text: string) => {
        said += text;
      });
    }
    await waitFor('the first pass', async () => /Watching for file changes/.test(said), 60_000);
    assert.equal(statSync(compiled).mtimeMs, builtAt, 'the first pass rewrote nothing');
    const before = readFileSync(compiled, 'utf8');

    await nextTick();
    p.write('src/a.ts', 'export const a: number = "one";\n');
    await waitFor('the type error', async () => /error TS2322/.test(said), 60_000);
    assert.equal(readFileSync(compiled, 'utf8'), before, 'nothing written');
    assert.equal(watcher.exitCode, null, 'still watching');

    p.write('src/a.ts', 'export const a: number = 2;\n');
    await waitFor('the fixed build', async () => readFileSync(compiled, 'utf8').includes('= 2'), 60_000);
  });
});
