import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDeployer, createEngine, socketGroup, stackConfig } from '../../deploy/docker/index.js';
import {
  containersServing,
  derivedImage,
  ensureTestImage,
  freePort,
  get,
  run,
  startLoad,
  waitFor,
} from '../helpers/docker.js';
import { requires } from '../helpers/system-deps.js';

// End to end against the real engine: the dockerode deployer and the proxy's Docker discovery, with
// two apps as in config/examples/two-apps.yaml: the sample site (the top-level pool, scaled and
// rolled out) and the WSGI hello app for hello.localhost (a route with one worker of its own).

const HELLO = '<h1>Hello World!</h1>';
const TWO_APPS = [
  'routes:',
  '  - name: site',
  '  - name: hello',
  '    host: hello.localhost',
  '    workers: { count: 1, app: dist/app/examples/wsgi-hello.js }',
  '',
].join('\n');

describe('gatehouse deploy on a Docker engine', requires('docker'), () => {
  const stack = `ghdeploy${process.pid}`;
  const engine = createEngine();
  const config = stackConfig(stack, TWO_APPS, 'two apps');
  // The deployer's progress, each line with its time: printed with a rollout's result, so a slow
  // one says which step took the time.
  const lines: { at: number; line: string }[] = [];
  const deployer = createDeployer({ engine, stack, out: (line) => lines.push({ at: Date.now(), line }) });
  const rolloutTag = `gatehouse-test-rollout:${process.pid}`;
  let image = '';
  let port = 0;
  let url = '';
  const labelled = (kind: 'ps' | 'network') =>
    run(
      kind === 'ps'
        ? ['docker', 'ps', '-a', '-q', '--filter', `label=gatehouse.stack=${stack}`]
        : ['docker', 'network', 'ls', '-q', '--filter', `label=gatehouse.stack=${stack}`],
    )
      .split('\n')
      .filter(Boolean);
  const ids = (...labels: string[]) =>
    run(['docker', 'ps', '-q', ...labels.flatMap((label) => ['--filter', `label=${label}`])])
      .split('\n')
      .filter(Boolean);
  const helloIds = () => ids(`gatehouse.stack=${stack}`, 'gatehouse.route=hello');
  /** The top-level pool's workers: every worker of the stack but the hello route's. */
  const workerIds = () => {
    const hello = new Set(helloIds());
    return ids(`gatehouse.stack=${stack}`, 'gatehouse.role=worker').filter((id) => !hello.has(id));
  };
  /** The hello app through the proxy, by its host name. */
  const helloAnswers = () =>
    waitFor('the hello app through the proxy', async () => {
      const answer = await get(`${url}/`, { host: 'hello.localhost' });
      return answer.status === 200 && answer.body === HELLO ? answer : undefined;
    });

  before(async () => {
    image = await ensureTestImage();
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    await deployer.down().catch(() => {});
    await engine.removeImage(rolloutTag).catch(() => {});
  });

  test('up starts the workers and the proxy, which serves the site over both workers found by their labels', async () => {
    await deployer.up({
      image,
      workers: 2,
      config,
      bind: '127.0.0.1',
      port,
      socket: '/var/run/docker.sock',
      socketGid: socketGroup('/var/run/docker.sock'),
    });
    const workers = workerIds();
    assert.equal(workers.length, 2);
    const serving = await waitFor('both workers to serve through the proxy', async () => {
      const seen = await containersServing(`${url}/headers`, workers);
      return seen.size === 2 ? seen : undefined;
    });
    assert.equal(serving.size, 2);
    assert.equal(helloIds().length, 1, "the hello route's own worker");
    await helloAnswers();
  });

  test('scale 3 adds a worker that the running proxy picks up', async () => {
    await deployer.scale({ workers: 3, config });
    const workers = workerIds();
    assert.equal(workers.length, 3);
    const serving = await waitFor(
      'three workers to serve',
      async () => {
        const seen = await containersServing(`${url}/headers`, workers, 30);
        return seen.size === 3 ? seen : undefined;
      },
      30_000,
      500,
    );
    assert.equal(serving.size, 3);
  });

  test('rollout to a new image under load drops no request', async (t) => {
    await derivedImage(image, rolloutTag);
    const before = new Set([...workerIds(), ...helloIds()]);
    // Bounded by count and time; the time well beyond a rollout on a loaded CI machine (144 s seen,
    // 21 s idle): the load must still run after it. Paced (10 connections, 5 ms between a
    // connection's requests) so that requests are in flight at every step of the swap, yet the
    // new containers still get the CPU to start: flat out, beside CI's other lane, one took over
    // 60 s to turn healthy.
    const load = startLoad(`${url}/headers`, {
      connections: 10,
      maxRequests: 200_000,
      maxDuration: 300_000,
      pause: 5,
    });
    await waitFor('load to flow', async () => (load.result.ok > 20 ? true : undefined), 10_000, 50);
    const from = lines.length;
    const started = Date.now();
    await deployer.rollout({ image: rolloutTag, config });
    t.diagnostic(`rollout took ${Date.now() - started} ms:`);
    for (const { at, line } of lines.slice(from))
      t.diagnostic(`  ${((at - started) / 1000).toFixed(1)} s: ${line}`);
    // A little traffic after the last old worker is gone, on the new pool only.
    const atEnd = load.result.ok;
    await waitFor(
      'traffic after the rollout',
      async () => (load.result.ok > atEnd + 50 ? true : undefined),
      30_000,
      50,
    );
    const result = await load.stop();
    t.diagnostic(
      `rollout under load: ${result.failed} failed of ${result.ok + result.failed} requests ${JSON.stringify(result.failures)}`,
    );
    assert.equal(result.failed, 0, `failures: ${JSON.stringify(result.failures)}`);
    assert.ok(result.ok > 100);

    const after = workerIds();
    assert.equal(after.length, 3, 'as many workers as before');
    assert.ok(
      after.every((id) => !before.has(id)),
      'every worker replaced',
    );
    for (const id of after)
      assert.equal(run(['docker', 'inspect', '-f', '{{.Config.Image}}', id]).trim(), rolloutTag);
    const [hello] = helloIds();
    assert.ok(hello && !before.has(hello), "the hello route's worker replaced too");
    assert.equal(run(['docker', 'inspect', '-f', '{{.Config.Image}}', hello]).trim(), rolloutTag);
    await helloAnswers();
  });

  test('status lists the proxy and every worker', async () => {
    const rows = await deployer.status();
    assert.deepEqual(
      rows.map((r) => r.role),
      ['proxy', 'worker', 'worker', 'worker', 'worker'],
    );
    assert.ok(
      rows.every((r) => r.state === 'running' && r.health === 'healthy'),
      JSON.stringify(rows),
    );
  });

  test('the CLI prints the same status as a table', () => {
    const out = run([process.execPath, 'bin/gatehouse.js', 'deploy', 'status', '--stack', stack]);
    assert.match(out, /^NAME +ROLE +STATE +HEALTH +ADDRESS +IMAGE\n/);
    assert.match(
      out,
      new RegExp(`\\n${stack}-proxy +proxy +running +healthy +127\\.0\\.0\\.1:${port}->8080/tcp`),
    );
    assert.equal(out.match(/ worker +running +healthy /g)?.length, 4);
  });

  test('down leaves no labelled container or network, and the proxy port is closed', async () => {
    const result = await deployer.down();
    assert.equal(result.containers, 5);
    assert.deepEqual(labelled('ps'), []);
    assert.deepEqual(labelled('network'), []);
    await assert.rejects(get(`${url}/healthz`));
  });
});
