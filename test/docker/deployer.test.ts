import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { createDeployer, type DeployerOptions, stackConfig } from '../../deploy/docker/index.js';
import { fakeEngine } from '../helpers/docker-fake-engine.js';

// Unit tests of the deploy logic against an engine in memory: no Docker needed.

const config = stackConfig('shop');

function setup(engineOptions?: Parameters<typeof fakeEngine>[0], options: Partial<DeployerOptions> = {}) {
  const fake = fakeEngine(engineOptions);
  let n = 0;
  const deployer = createDeployer({
    engine: fake.engine,
    stack: 'shop',
    sleep: async () => {},
    suffix: () => `w${++n}`,
    healthTimeout: 10_000,
    pollInterval: 1,
    ...options,
  });
  return { fake, deployer };
}

/** A deployer on its own clock that waits 100 ms at most for health: sleeping only moves the clock. */
function impatientDeployer(engine: DeployerOptions['engine']) {
  let now = 0;
  return createDeployer({
    engine,
    stack: 'shop',
    healthTimeout: 100,
    pollInterval: 10,
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
  });
}

const upOptions = {
  image: 'gatehouse:latest',
  workers: 2,
  config,
  bind: '127.0.0.1',
  port: 18080,
  socket: '/var/run/docker.sock',
  socketGid: 111,
};

describe('deployer up', () => {
  test('creates the stack network, N healthy workers, then the proxy published on the bind address', async () => {
    const { fake, deployer } = setup();
    const result = await deployer.up(upOptions);
    assert.equal(result.url, 'http://127.0.0.1:18080/');
    assert.deepEqual(
      fake.log.filter((l) => l.startsWith('create')),
      ['create network shop-net', 'create shop-worker-w1', 'create shop-worker-w2', 'create shop-proxy'],
    );
    const proxyCreated = fake.log.indexOf('create shop-proxy');
    assert.ok(
      fake.log.indexOf('healthy shop-worker-w1') < proxyCreated &&
        fake.log.indexOf('healthy shop-worker-w2') < proxyCreated,
      'workers are healthy before the proxy starts',
    );
    assert.equal(fake.running('worker').length, 2);
    assert.equal(fake.running('proxy').length, 1);
  });

  test('labels every container with the stack and role, and workers with their network', async () => {
    const { fake, deployer } = setup();
    await deployer.up(upOptions);
    for (const c of fake.containers.values()) {
      assert.equal(c.spec.Labels?.['gatehouse.stack'], 'shop');
      assert.match(c.spec.Labels?.['gatehouse.role'] ?? '', /^(worker|proxy)$/);
      assert.equal(c.spec.HostConfig?.NetworkMode, 'shop-net');
      assert.equal(c.spec.HostConfig?.Init, true, 'tini forwards SIGTERM to Node');
    }
    assert.deepEqual([...fake.networks.values()][0]?.labels, { 'gatehouse.stack': 'shop' });
    assert.equal(fake.running('worker')[0]?.spec.Labels?.['gatehouse.network'], 'shop-net');
  });

  test('gives every container the stack config, whose pool comes from Docker discovery of the stack', async () => {
    const { fake, deployer } = setup();
    await deployer.up(upOptions);
    for (const c of fake.containers.values()) {
      const file = c.files.get('/app/config/deploy.yaml');
      assert.ok(file, `${c.spec.name} has its config`);
      const doc = parse(file.toString());
      assert.deepEqual(doc.upstream.docker, { stack: 'shop', port: 3000, socket: '/var/run/docker.sock' });
      assert.equal(c.spec.Cmd?.at(-1), '/app/config/deploy.yaml');
    }
  });

  test('publishes only the proxy, mounts the socket read-only into it alone, and sets stop timeouts past the drain', async () => {
    const { fake, deployer } = setup();
    await deployer.up(upOptions);
    const [proxy] = fake.running('proxy');
    assert.deepEqual(proxy?.spec.HostConfig?.PortBindings, {
      '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '18080' }],
    });
    assert.deepEqual(proxy?.spec.HostConfig?.Binds, ['/var/run/docker.sock:/var/run/docker.sock:ro']);
    assert.deepEqual(proxy?.spec.HostConfig?.GroupAdd, ['111']);
    assert.equal(proxy?.spec.StopTimeout, 15, 'timeouts.shutdown 10 s + 5');
    for (const worker of fake.running('worker')) {
      assert.equal(worker.spec.HostConfig?.PortBindings, undefined);
      assert.equal(worker.spec.HostConfig?.Binds, undefined);
      assert.equal(worker.spec.StopTimeout, 15, 'workers.grace_period 10 s + 5');
    }
  });

  test('a second up changes nothing', async () => {
    const { fake, deployer } = setup();
    await deployer.up(upOptions);
    const before = fake.log.length;
    await deployer.up(upOptions);
    assert.deepEqual(fake.log.slice(before), []);
  });

  test('refuses an image the engine does not have, before creating anything (it never pulls)', async () => {
    const { fake, deployer } = setup();
    await assert.rejects(deployer.up({ ...upOptions, image: 'gatehouse:missing' }), {
      code: 'GH_ERR_DEPLOY_NO_IMAGE',
      message: /gatehouse:missing.*deploy build/,
    });
    assert.deepEqual(fake.log, []);
  });

  test('a worker that crashes at start fails up with its name, and is removed', async () => {
    const { fake, deployer } = setup({
      images: { 'gatehouse:latest': 'sha256:aaa' },
      crashing: ['gatehouse:latest'],
    });
    await assert.rejects(deployer.up(upOptions), {
      code: 'GH_ERR_DEPLOY_UNHEALTHY',
      message: /shop-worker-w1 exited/,
    });
    assert.equal([...fake.containers.values()].length, 0);
  });
});

describe('deployer scale', () => {
  test('adds workers from the running workers’ image and waits until they are healthy', async () => {
    const { fake, deployer } = setup();
    await deployer.up(upOptions);
    const result = await deployer.scale({ workers: 3, config });
    assert.deepEqual(result, { started: 1, stopped: 0 });
    assert.equal(fake.running('worker').length, 3);
    assert.ok(fake.log.includes('healthy shop-worker-w3'));
  });

  test('removes surplus workers with SIGTERM and the drain timeout, newest first', async () => {
    const { fake, deployer } = setup();
    await deployer.up({ ...upOptions, workers: 3 });
    const result = await deployer.scale({ workers: 1, config });
    assert.deepEqual(result, { started: 0, stopped: 2 });
    assert.deepEqual(
      fake.running('worker').map((c) => c.spec.name),
      ['shop-worker-w1'],
    );
    assert.ok(fake.log.includes('stop shop-worker-w3 15'));
    assert.ok(fake.log.includes('remove shop-worker-w3'));
  });

  test('refuses to scale a stack that is not up', async () => {
    const { deployer } = setup();
    await assert.rejects(deployer.scale({ workers: 3, config }), { code: 'GH_ERR_DEPLOY_NOT_UP' });
  });
});

describe('deployer rollout', () => {
  test('starts as many new workers as run, waits until all are healthy, then stops the old ones', async () => {
    const { fake, deployer } = setup({
      images: { 'gatehouse:latest': 'sha256:aaa', 'gatehouse:v2': 'sha256:bbb' },
    });
    await deployer.up(upOptions);
    const mark = fake.log.length;
    const result = await deployer.rollout({ image: 'gatehouse:v2', config });
    assert.deepEqual(result, { started: 2, stopped: 2 });
    const steps = fake.log.slice(mark);
    const lastHealthy = Math.max(
      steps.indexOf('healthy shop-worker-w3'),
      steps.indexOf('healthy shop-worker-w4'),
    );
    const firstStop = steps.findIndex((s) => s.startsWith('stop '));
    assert.ok(
      lastHealthy >= 0 && firstStop > lastHealthy,
      `new workers healthy before an old one stops: ${steps.join('; ')}`,
    );
    assert.deepEqual(
      fake.running('worker').map((c) => c.spec.Image),
      ['gatehouse:v2', 'gatehouse:v2'],
    );
    assert.equal(fake.running('proxy').length, 1, 'the proxy keeps running');
  });

  test('waits the settle time between the new workers healthy and the old ones stopped', async () => {
    const pauses: number[] = [];
    const fake = fakeEngine({ images: { 'gatehouse:latest': 'sha256:aaa', 'gatehouse:v2': 'sha256:bbb' } });
    const deployer = createDeployer({
      engine: fake.engine,
      stack: 'shop',
      settle: 1_234,
      pollInterval: 1,
      sleep: async (ms) => {
        pauses.push(ms);
        fake.log.push(`sleep ${ms}`);
      },
    });
    await deployer.up(upOptions);
    const mark = fake.log.length;
    await deployer.rollout({ image: 'gatehouse:v2', config });
    const steps = fake.log.slice(mark);
    assert.ok(steps.indexOf('sleep 1234') < steps.findIndex((s) => s.startsWith('stop ')));
    assert.ok(pauses.includes(1_234));
  });

  test('a new image whose workers crash leaves the old workers serving and removes the new ones', async () => {
    const { fake, deployer } = setup({
      images: { 'gatehouse:latest': 'sha256:aaa', 'gatehouse:bad': 'sha256:bad' },
      crashing: ['gatehouse:bad'],
    });
    await deployer.up(upOptions);
    await assert.rejects(deployer.rollout({ image: 'gatehouse:bad', config }), {
      code: 'GH_ERR_DEPLOY_UNHEALTHY',
    });
    assert.deepEqual(
      fake.running('worker').map((c) => c.spec.Image),
      ['gatehouse:latest', 'gatehouse:latest'],
    );
    assert.equal([...fake.containers.values()].filter((c) => c.spec.Image === 'gatehouse:bad').length, 0);
    assert.ok(!fake.log.some((l) => l.startsWith('stop ')));
  });

  test('a worker that never turns healthy times the rollout out and is removed', async () => {
    const fake = fakeEngine({ images: { 'gatehouse:latest': 'sha256:aaa', 'gatehouse:v2': 'sha256:bbb' } });
    await createDeployer({ engine: fake.engine, stack: 'shop', pollInterval: 1, sleep: async () => {} }).up(
      upOptions,
    );
    const neverHealthy = {
      ...fake.engine,
      inspectContainer: async (id: string) => ({
        ...(await fake.engine.inspectContainer(id)),
        health: 'starting',
      }),
    };
    const deployer = impatientDeployer(neverHealthy);
    await assert.rejects(deployer.rollout({ image: 'gatehouse:v2', config }), {
      code: 'GH_ERR_DEPLOY_UNHEALTHY',
      message: /not healthy after/,
    });
    assert.equal(fake.running('worker').filter((c) => c.spec.Image === 'gatehouse:latest').length, 2);
    assert.equal([...fake.containers.values()].filter((c) => c.spec.Image === 'gatehouse:v2').length, 0);
  });
});

describe('deployer status and down', () => {
  test('status lists the proxy first, then the workers with their pool address', async () => {
    const { deployer } = setup();
    await deployer.up(upOptions);
    const rows = await deployer.status();
    assert.deepEqual(
      rows.map((r) => [r.name, r.role]),
      [
        ['shop-proxy', 'proxy'],
        ['shop-worker-w1', 'worker'],
        ['shop-worker-w2', 'worker'],
      ],
    );
    assert.match(rows[1]!.address, /^172\.30\.0\.\d+:3000$/);
    assert.equal(rows[0]!.address, '127.0.0.1:18080->8080/tcp');
  });

  test('down stops the proxy before the workers and removes every container and network of the stack only', async () => {
    const { fake, deployer } = setup();
    await deployer.up(upOptions);
    const other = createDeployer({
      engine: fake.engine,
      stack: 'blog',
      sleep: async () => {},
      pollInterval: 1,
    });
    await other.up({ ...upOptions, workers: 1, config: stackConfig('blog'), port: 18081 });
    const mark = fake.log.length;
    const result = await deployer.down();
    assert.deepEqual(result, { containers: 3, networks: 1 });
    const steps = fake.log.slice(mark);
    assert.ok(
      steps.indexOf('stop shop-proxy default') < steps.findIndex((s) => s.startsWith('stop shop-worker')),
    );
    const left = [...fake.containers.values()].map((c) => c.spec.Labels?.['gatehouse.stack']);
    assert.deepEqual(left, ['blog', 'blog']);
    assert.deepEqual(
      [...fake.networks.values()].map((n) => n.name),
      ['blog-net'],
    );
  });
});

describe('deployer with routes', () => {
  // A route with workers of its own (as config/examples/two-apps.yaml's hello): its own containers.
  const routed = stackConfig(
    'shop',
    [
      'routes:',
      '  - name: site',
      '  - name: hello',
      '    host: hello.localhost',
      '    workers: { count: 1, port: 8101, app: dist/app/examples/wsgi-hello.js }',
      '',
    ].join('\n'),
    'two-apps.yaml',
  );
  const helloWorkers = (fake: ReturnType<typeof fakeEngine>) =>
    fake.running('worker').filter((c) => c.spec.Labels?.['gatehouse.route'] === 'hello');

  test("up starts each route's own workers beside the top-level ones: labelled with the route, running its app", async () => {
    const { fake, deployer } = setup();
    await deployer.up({ ...upOptions, config: routed });
    assert.deepEqual(
      fake.log.filter((l) => l.startsWith('create')),
      [
        'create network shop-net',
        'create shop-worker-w1',
        'create shop-worker-w2',
        'create shop-worker-hello-w3',
        'create shop-proxy',
      ],
    );
    const [hello] = helloWorkers(fake);
    assert.deepEqual(hello?.spec.Cmd, [
      'worker',
      '--config',
      '/app/config/deploy.yaml',
      '--app',
      'dist/app/examples/wsgi-hello.js',
    ]);
    assert.equal(fake.running('worker').length, 3);
    const doc = parse(fake.running('proxy')[0]!.files.get('/app/config/deploy.yaml')!.toString());
    assert.equal(doc.routes[1].upstream.docker.route, 'hello');
  });

  test('scale changes the top-level pool only; rollout replaces every pool, each at its size', async () => {
    const { fake, deployer } = setup({
      images: { 'gatehouse:latest': 'sha256:aaa', 'gatehouse:v2': 'sha256:bbb' },
    });
    await deployer.up({ ...upOptions, config: routed });
    assert.deepEqual(await deployer.scale({ workers: 3, config: routed }), { started: 1, stopped: 0 });
    assert.equal(helloWorkers(fake).length, 1);
    const oldHello = helloWorkers(fake)[0]!.spec.name;
    assert.deepEqual(await deployer.rollout({ image: 'gatehouse:v2', config: routed }), {
      started: 4,
      stopped: 4,
    });
    const hello = helloWorkers(fake);
    assert.equal(hello.length, 1);
    assert.notEqual(hello[0]!.spec.name, oldHello);
    assert.deepEqual(
      fake.running('worker').map((c) => c.spec.Image),
      ['gatehouse:v2', 'gatehouse:v2', 'gatehouse:v2', 'gatehouse:v2'],
    );
  });

  test("a route's new workers that never turn healthy fail the rollout: the new workers of every pool removed, the old ones untouched", async () => {
    const fake = fakeEngine({ images: { 'gatehouse:latest': 'sha256:aaa', 'gatehouse:v2': 'sha256:bbb' } });
    await createDeployer({ engine: fake.engine, stack: 'shop', pollInterval: 1, sleep: async () => {} }).up({
      ...upOptions,
      config: routed,
    });
    const before = [...fake.containers.keys()];
    // The hello route's new worker stays "starting"; the top-level pool's new ones turn healthy.
    const helloNeverHealthy = {
      ...fake.engine,
      inspectContainer: async (id: string) => {
        const info = await fake.engine.inspectContainer(id);
        const hello = fake.containers.get(id)?.spec.Labels?.['gatehouse.route'] === 'hello';
        return hello && !before.includes(id) ? { ...info, health: 'starting' } : info;
      },
    };
    const deployer = impatientDeployer(helloNeverHealthy);
    await assert.rejects(deployer.rollout({ image: 'gatehouse:v2', config: routed }), {
      code: 'GH_ERR_DEPLOY_UNHEALTHY',
    });
    assert.deepEqual([...fake.containers.keys()].sort(), before.sort(), 'only the containers from before');
    assert.ok(!fake.log.some((l) => l.startsWith('stop ')), 'no old worker stopped');
  });
});
