import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { buildFromContext, buildImage, createEngine, tarFile } from '../../deploy/docker/index.js';
import { buildContext, ensureTestImage, freePort, get, run, waitFor } from '../helpers/docker.js';
import { requires } from '../helpers/system-deps.js';

// End to end against the real engine: the Dockerfile.

describe('the gatehouse image', requires('docker'), () => {
  const engine = createEngine();
  const node20Tag = `gatehouse-test-node20:${process.pid}`;
  const brokenTag = `gatehouse-test-broken:${process.pid}`;
  const container = `ghimage${process.pid}`;
  let image = '';

  before(async () => {
    image = await ensureTestImage();
  });

  after(async () => {
    spawnSync('docker', ['rm', '-f', container], { stdio: 'ignore' });
    await engine.removeImage(node20Tag).catch(() => {});
  });

  test('runs Node 24 as a non-root user, a worker by default, with a healthcheck', (t) => {
    const config = JSON.parse(run(['docker', 'image', 'inspect', '-f', '{{json .Config}}', image])) as {
      User: string;
      Entrypoint: string[];
      Cmd: string[];
      Healthcheck?: { Test: string[] };
    };
    assert.equal(config.User, '10001:10001');
    assert.deepEqual(config.Entrypoint, ['node', 'bin/gatehouse.js']);
    assert.deepEqual(config.Cmd, ['worker']);
    assert.equal(config.Healthcheck?.Test[0], 'CMD');
    assert.match(
      run(['docker', 'run', '--rm', '--entrypoint', 'node', image, '-p', 'process.version']),
      /^v24\./,
    );
    assert.equal(run(['docker', 'run', '--rm', '--entrypoint', 'id', image, '-u']).trim(), '10001');
    const files = run(['docker', 'run', '--rm', '--entrypoint', 'ls', image, '-A', '/app']).split('\n');
    for (const absent of ['test', 'tsconfig.json', '.git', 'Dockerfile'])
      assert.ok(!files.includes(absent), absent);
    assert.ok(!run(['docker', 'run', '--rm', '--entrypoint', 'ls', image, '/app/dist']).includes('test'));
    // The dev tools stayed in the build stage.
    assert.match(
      run([
        'docker',
        'run',
        '--rm',
        '--entrypoint',
        'sh',
        image,
        '-c',
        'ls node_modules/typescript 2>&1 || true',
      ]),
      /No such file/,
    );
    const size = Number(run(['docker', 'image', 'inspect', '-f', '{{.Size}}', image]));
    t.diagnostic(`image size: ${(size / 1e6).toFixed(0)} MB (${image})`);
  });

  test('a worker container turns healthy, serves, and drains and exits 0 on docker stop', async () => {
    const port = await freePort();
    run(['docker', 'run', '-d', '--init', '--name', container, '-p', `127.0.0.1:${port}:3000`, image]);
    await waitFor(
      'the container to be healthy',
      async () =>
        run(['docker', 'inspect', '-f', '{{.State.Health.Status}}', container]).trim() === 'healthy'
          ? true
          : undefined,
      60_000,
      250,
    );
    const res = await get(`http://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 200);
    run(['docker', 'stop', '-t', '15', container]);
    // Exit code 0 only comes after the drain finished (a SIGKILL would give 137).
    assert.equal(run(['docker', 'inspect', '-f', '{{.State.ExitCode}}', container]).trim(), '0');
    const logs = run(['docker', 'logs', container])
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; signal?: string });
    assert.ok(
      logs.some((l) => l.msg === 'draining' && l.signal === 'SIGTERM'),
      'SIGTERM reached Node through the init',
    );
  });

  test('a failing build step fails the build with the engine message, though the engine answered 200', async () => {
    const dockerfile = 'FROM debian:bookworm-slim\nRUN echo "about to fail" && exit 3\n';
    await assert.rejects(
      buildFromContext(engine, Readable.from([tarFile('Dockerfile', dockerfile)]), { tag: brokenTag }),
      { code: 'GH_ERR_DEPLOY_BUILD', message: /returned a non-zero code: 3/ },
    );
    assert.equal(await engine.imageId(brokenTag), null);
  });

  test('builds on Node 20 as well (NODE_VERSION=20)', async () => {
    await buildImage(engine, { context: buildContext, tag: node20Tag, nodeVersion: '20' });
    assert.match(
      run(['docker', 'run', '--rm', '--entrypoint', 'node', node20Tag, '-p', 'process.version']),
      /^v20\./,
    );
    assert.match(run(['docker', 'run', '--rm', node20Tag, 'check']), /ok/);
  });
});
