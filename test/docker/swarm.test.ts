import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createEngine } from '../../deploy/docker/index.js';
import { WORKER_HEADER } from '../../stack/worker-identity.js';
import {
  derivedImage,
  ensureTestImage,
  freePort,
  get,
  repoRoot,
  run,
  startLoad,
  waitFor,
} from '../helpers/docker.js';
import { requires } from '../helpers/system-deps.js';

// End to end on a single-node Docker Swarm (`docker swarm init` on loopback, left again at the
// end): docker-stack.yml through `docker stack deploy`, and `gatehouse deploy --swarm` through the
// Engine's Swarm API. Both as the README runs them; the proxy finds the tasks by re-resolving
// tasks.app (dnsrr endpoints, a host-mode published port: what works without overlay VIPs and the
// ingress routing mesh).

/**
 * An image by its ID: a task whose image is named by ID (or digest) starts without the engine
 * asking a registry for a newer one, which it does for a tag (and none is reachable here).
 */
const imageId = (tag: string) => run(['docker', 'image', 'inspect', '-f', '{{.Id}}', tag]).trim();

/**
 * `run` without blocking: under load the test's own event loop must keep sending requests (a
 * synchronous child would stall every request in flight until it returned).
 */
async function runAsync(command: string[], timeout = 240_000): Promise<string> {
  const [file, ...args] = command;
  const { stdout } = await promisify(execFile)(file!, args, { cwd: repoRoot, timeout, maxBuffer: 16 << 20 });
  return stdout;
}

const swarmState = () => run(['docker', 'info', '--format', '{{.Swarm.LocalNodeState}}']).trim();

/** The container IDs (12 hex: the workers' hostnames) of a service's running tasks. */
const runningTasks = (service: string) =>
  run(['docker', 'ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`])
    .split('\n')
    .filter(Boolean);

/** Which workers answer through the proxy: the hostname in the worker's identity header, over `count` GETs. */
async function hostsServing(url: string, count: number): Promise<Set<string>> {
  const hosts = new Set<string>();
  for (let i = 0; i < count; i++) {
    const res = await get(`${url}/healthz`);
    if (res.status !== 200) throw new Error(`GET ${url}/healthz answered ${res.status}`);
    const host = /hostname=([^;]+)/.exec(String(res.headers[WORKER_HEADER] ?? ''))?.[1];
    if (host) hosts.add(host);
  }
  return hosts;
}

/** Waits until every task of `service` serves through the proxy, and exactly those. */
async function servingAll(url: string, service: string, tasks: number, timeout = 60_000): Promise<void> {
  await waitFor(
    `${tasks} tasks of ${service} to serve through the proxy`,
    async () => {
      const running = runningTasks(service);
      if (running.length !== tasks) return undefined;
      const hosts = await hostsServing(url, tasks * 6);
      return hosts.size === tasks && [...hosts].every((h) => running.includes(h)) ? true : undefined;
    },
    timeout,
    250,
  );
}

/** Load for the whole of `action`, then a little after; returns the load's result. */
async function underLoad(url: string, action: () => Promise<void>) {
  const load = startLoad(`${url}/headers`, { connections: 4, maxRequests: 100_000, maxDuration: 150_000 });
  await waitFor('load to flow', async () => (load.result.ok > 20 ? true : undefined), 15_000, 50);
  await action();
  const atEnd = load.result.ok;
  await waitFor(
    'traffic after the rollout',
    async () => (load.result.ok > atEnd + 50 ? true : undefined),
    15_000,
    50,
  );
  return load.stop();
}

describe('Docker Swarm', requires('docker'), () => {
  const rolloutTag = `gatehouse-test-swarm:${process.pid}`;
  let image = '';
  let initialized = false;

  before(async () => {
    // A tag of our own on the test image: another run's ensureTestImage removes the shared
    // gatehouse-test tags it considers stale, and the image must outlive this file.
    image = `gatehouse-test-swarm-base:${process.pid}`;
    run(['docker', 'tag', await ensureTestImage(), image]);
    await derivedImage(image, rolloutTag);
    if (swarmState() !== 'active') {
      run(['docker', 'swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:2377']);
      initialized = true;
    }
  });

  after(async () => {
    // A swarm this test found running stays; the one it made goes, with everything in it.
    if (initialized) run(['docker', 'swarm', 'leave', '--force']);
    for (const tag of [rolloutTag, image])
      await createEngine()
        .removeImage(tag)
        .catch(() => {});
  });

  describe('docker stack deploy -c docker-stack.yml', () => {
    const stack = `ghstack${process.pid}`;
    const app = `${stack}_app`;
    let env: NodeJS.ProcessEnv = {};
    let url = '';

    before(async () => {
      const port = await freePort();
      env = { ...process.env, GATEHOUSE_IMAGE: imageId(image), GATEHOUSE_PORT: String(port) };
      url = `http://127.0.0.1:${port}`;
    });

    after(() => {
      if (env.GATEHOUSE_IMAGE) run(['docker', 'stack', 'rm', stack]);
    });

    test('deploys the stack, whose proxy serves the site over both app tasks', async () => {
      run(['docker', 'stack', 'deploy', '--resolve-image', 'never', '-c', 'docker-stack.yml', stack], {
        env,
      });
      await servingAll(url, app, 2, 90_000);
      const home = await get(`${url}/`);
      assert.equal(home.status, 200);
      assert.match(home.headers['content-type'] as string, /^text\/html/);
    });

    test('docker service scale app=4 is picked up by the running proxy', async (t) => {
      const proxyTask = runningTasks(`${stack}_proxy`);
      const before = new Set(runningTasks(app));
      const since = Date.now();
      run(['docker', 'service', 'scale', '--detach', `${app}=4`]);
      await waitFor(
        'all four tasks to serve through the proxy',
        async () => {
          const running = runningTasks(app);
          if (running.length < 4) return undefined;
          const hosts = await hostsServing(url, 24);
          return hosts.size === 4 && [...hosts].every((h) => running.includes(h)) ? true : undefined;
        },
        60_000,
        100,
      );
      const done = Date.now();
      // When the new tasks turned healthy, from the engine's events: Swarm adds a task to DNS
      // (tasks.app) at that moment, so from then on the pickup is the proxy's doing.
      const healthy = run([
        'docker',
        'events',
        '--since',
        String(since / 1000),
        '--until',
        String(done / 1000),
        '--filter',
        'type=container',
        '--filter',
        `label=com.docker.swarm.service.name=${app}`,
        '--filter',
        'event=health_status',
        '--format',
        '{{.TimeNano}} {{.Actor.ID}} {{.Status}}',
      ])
        .split('\n')
        .filter((line) => line.endsWith('healthy') && !line.endsWith('unhealthy'))
        .map((line) => line.split(' '))
        .filter(([, id]) => !before.has(id!.slice(0, 12)))
        .map(([nanos]) => Number(BigInt(nanos!) / 1_000_000n));
      assert.equal(healthy.length, 2, 'two new tasks turned healthy');
      const lastHealthy = Math.max(...healthy);
      t.diagnostic(
        `scale-out 2→4: all 4 tasks served through the proxy ${((done - since) / 1000).toFixed(1)} s after ` +
          `\`docker service scale\`, ${((done - lastHealthy) / 1000).toFixed(1)} s after the last new task turned healthy ` +
          '(an upper bound: the check runs 24 requests and two docker commands per round)',
      );
      assert.deepEqual(runningTasks(`${stack}_proxy`), proxyTask, 'the same proxy task');
    });

    test('docker service update --image rolls the tasks under load with no failed request', async (t) => {
      const before = new Set(runningTasks(app));
      const started = performance.now();
      const result = await underLoad(url, async () => {
        await runAsync(['docker', 'service', 'update', '--detach', '--image', imageId(rolloutTag), app]);
        await waitFor(
          'the rolling update to complete',
          async () => {
            const state = (
              await runAsync(['docker', 'service', 'inspect', '-f', '{{.UpdateStatus.State}}', app])
            ).trim();
            assert.doesNotMatch(state, /rollback|paused/, `update ${state}`);
            return state === 'completed' ? true : undefined;
          },
          150_000,
          500,
        );
      });
      t.diagnostic(
        `stack rollout of 4 tasks under load (${((performance.now() - started) / 1000).toFixed(1)} s): ` +
          `${result.failed} failed of ${result.ok + result.failed} requests ${JSON.stringify(result.failures)}`,
      );
      assert.equal(result.failed, 0, `failures: ${JSON.stringify(result.failures)}`);
      assert.ok(result.ok > 100);
      const after = runningTasks(app);
      assert.equal(after.length, 4);
      assert.ok(
        after.every((id) => !before.has(id)),
        'every task replaced',
      );
      for (const id of after)
        assert.equal(run(['docker', 'inspect', '-f', '{{.Image}}', id]).trim(), imageId(rolloutTag));
    });

    test('docker stack rm removes the services and the network', async () => {
      run(['docker', 'stack', 'rm', stack]);
      await waitFor(
        'the stack to be gone',
        async () => {
          const left =
            run(['docker', 'ps', '-aq', '--filter', `label=com.docker.stack.namespace=${stack}`]) +
            run(['docker', 'network', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${stack}`]);
          return left.trim() === '' ? true : undefined;
        },
        60_000,
        500,
      );
      env = {};
      await assert.rejects(get(`${url}/healthz`));
    });
  });

  describe('gatehouse deploy --swarm', () => {
    const stack = `ghswarm${process.pid}`;
    const app = `${stack}_app`;
    let url = '';
    let port = 0;
    const cli = (...args: string[]) =>
      run([process.execPath, 'bin/gatehouse.js', 'deploy', ...args, '--swarm', '--stack', stack], {
        timeout: 240_000,
      });

    before(async () => {
      port = await freePort();
      url = `http://127.0.0.1:${port}`;
    });

    after(() => {
      if (port) spawnQuietly(() => cli('down'));
    });

    test('up creates the services; the proxy serves the site over both workers', async () => {
      const out = cli('up', '--image', image, '--workers', '2', '--port', String(port));
      assert.match(out, new RegExp(`stack ${stack} is up: ${url}`));
      await servingAll(url, app, 2);
    });

    test('rollout --image replaces every task under load with no failed request', async (t) => {
      const before = new Set(runningTasks(app));
      const started = performance.now();
      const result = await underLoad(url, async () => {
        await runAsync([
          process.execPath,
          'bin/gatehouse.js',
          'deploy',
          'rollout',
          '--image',
          rolloutTag,
          '--swarm',
          '--stack',
          stack,
        ]);
      });
      t.diagnostic(
        `deploy --swarm rollout of 2 tasks under load (${((performance.now() - started) / 1000).toFixed(1)} s): ` +
          `${result.failed} failed of ${result.ok + result.failed} requests ${JSON.stringify(result.failures)}`,
      );
      assert.equal(result.failed, 0, `failures: ${JSON.stringify(result.failures)}`);
      const after = runningTasks(app);
      assert.equal(after.length, 2);
      assert.ok(
        after.every((id) => !before.has(id)),
        'every task replaced',
      );
    });

    test('status lists the proxy and each worker task', () => {
      const out = cli('status');
      assert.match(out, /^NAME +ROLE +STATE +HEALTH +ADDRESS +IMAGE\n/);
      assert.match(out, new RegExp(`\\n${stack}_proxy\\.1 +proxy +running +healthy +${port}->8080/tcp `));
      assert.equal(
        out.match(new RegExp(` worker +running +healthy +[\\d.]+:3000 +${rolloutTag}`, 'g'))?.length,
        2,
      );
    });

    test('scale 1 drains a task out of the pool', async () => {
      cli('scale', '1');
      await servingAll(url, app, 1, 30_000);
    });

    test('down removes the services, the network and the config', async () => {
      cli('down');
      const left = (kind: string) =>
        run(['docker', kind, 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${stack}`]).trim();
      assert.equal(left('service'), '');
      // The managers delete a removed network or config a moment later.
      await waitFor(
        'the network and the config to be gone',
        async () => (left('network') === '' && left('config') === '' ? true : undefined),
        30_000,
        500,
      );
      await waitFor(
        'the proxy port to close',
        async () => ((await get(`${url}/healthz`).catch(() => null)) === null ? true : undefined),
        30_000,
      );
      port = 0;
    });
  });
});

function spawnQuietly(action: () => unknown): void {
  try {
    action();
  } catch {
    // best effort: the swarm is left afterwards anyway
  }
}
