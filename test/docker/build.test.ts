import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { buildFromContext, listContextFiles, tarFile } from '../../deploy/docker/index.js';
import { fakeEngine } from '../helpers/docker-fake-engine.js';

// Unit tests: the build's context and output handling, with a fake engine.

function engineAnswering(lines: unknown[], imageId: string | null = 'sha256:built') {
  const fake = fakeEngine({ images: imageId ? { 'gatehouse:t': imageId } : {} });
  const calls: unknown[] = [];
  fake.engine.buildImage = async (context, options) => {
    calls.push({ context, options });
    // Split mid-line, as an HTTP response would.
    const text = lines.map((l) => `${JSON.stringify(l)}\r\n`).join('');
    return Readable.from([text.slice(0, 7), text.slice(7)]);
  };
  return { engine: fake.engine, calls };
}

describe('buildFromContext', () => {
  test('shows each line of build output and returns the tagged image', async () => {
    const { engine, calls } = engineAnswering([
      { stream: 'Step 1/2 : FROM node:24-bookworm-slim\n' },
      { stream: ' ---> caa293175572\n' },
      { aux: { ID: 'sha256:built' } },
      { stream: 'Successfully tagged gatehouse:t\n' },
    ]);
    const progress: string[] = [];
    const result = await buildFromContext(engine, Readable.from([]), {
      tag: 'gatehouse:t',
      nodeVersion: '20',
      onProgress: (line) => progress.push(line),
    });
    assert.deepEqual(result, { id: 'sha256:built', tag: 'gatehouse:t' });
    assert.deepEqual(progress, [
      'Step 1/2 : FROM node:24-bookworm-slim',
      ' ---> caa293175572',
      'Successfully tagged gatehouse:t',
    ]);
    assert.deepEqual((calls[0] as { options: unknown }).options, {
      t: 'gatehouse:t',
      buildargs: { NODE_VERSION: '20' },
    });
  });

  test('a failing step reported inside a successful stream becomes a build error with the message', async () => {
    const { engine } = engineAnswering([
      { stream: 'Step 7/17 : RUN npm run build\n' },
      {
        errorDetail: {
          code: 1,
          message: "The command '/bin/sh -c npm run build' returned a non-zero code: 2",
        },
      },
      { error: "The command '/bin/sh -c npm run build' returned a non-zero code: 2" },
    ]);
    await assert.rejects(buildFromContext(engine, Readable.from([]), { tag: 'gatehouse:t' }), {
      code: 'GH_ERR_DEPLOY_BUILD',
      message:
        /build of gatehouse:t failed: The command '\/bin\/sh -c npm run build' returned a non-zero code: 2/,
    });
  });

  test('a stream that ends without an image is an error, not a success', async () => {
    const { engine } = engineAnswering([{ stream: 'Step 1/2 : FROM scratch\n' }], null);
    await assert.rejects(buildFromContext(engine, Readable.from([]), { tag: 'gatehouse:t' }), {
      code: 'GH_ERR_DEPLOY_BUILD',
      message: /ended without an image/,
    });
  });
});

describe('listContextFiles', () => {
  test('leaves out what .dockerignore excludes, at any depth, and keeps re-included files', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-context-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const files = [
      'Dockerfile',
      'package.json',
      'app/worker.ts',
      'app/debug.log',
      'app/site/views/home.eta',
      'node_modules/x/index.js',
      'test/a.test.ts',
      'docs/guide.md',
      'docs/keep.md',
    ];
    for (const file of files) {
      mkdirSync(join(dir, file, '..'), { recursive: true });
      writeFileSync(join(dir, file), 'x');
    }
    writeFileSync(join(dir, '.dockerignore'), 'node_modules\ntest\n**/*.log\ndocs\n!docs/keep.md\n');
    assert.deepEqual(await listContextFiles(dir), [
      '.dockerignore',
      'Dockerfile',
      'app/site/views/home.eta',
      'app/worker.ts',
      'docs/keep.md',
      'package.json',
    ]);
  });

  test('the repository context carries the sources and lockfile but no dependencies, builds or tests', async () => {
    const files = await listContextFiles(join(import.meta.dirname, '..', '..', '..'));
    for (const needed of [
      'Dockerfile',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'bin/gatehouse.js',
      // The default config's static route serves these from the image (no worker sees /static/).
      'app/site/static/site.css',
      'app/site/static/logo.svg',
    ]) {
      assert.ok(files.includes(needed), needed);
    }
    assert.ok(files.some((f) => f.startsWith('config/') && f.endsWith('.yaml')));
    assert.deepEqual(
      files.filter((f) => /^(node_modules|dist|test|\.git)\//.test(f)),
      [],
    );
  });
});

describe('tarFile', () => {
  test('is an archive tar reads back: one file, its name, mode and content', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tar-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const content = 'listen: 0.0.0.0:8080\n# é\n'.repeat(40);
    writeFileSync(join(dir, 'a.tar'), tarFile('deploy.yaml', content));
    const list = spawnSync('tar', ['-tvf', join(dir, 'a.tar')], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^-rw-r--r-- .* deploy\.yaml\n$/);
    const read = spawnSync('tar', ['-xOf', join(dir, 'a.tar'), 'deploy.yaml'], { encoding: 'utf8' });
    assert.equal(read.stdout, content);
  });
});
