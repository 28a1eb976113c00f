import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createSwarmDeployer,
  type ServiceSpec,
  type SwarmEngine,
  stackConfig,
  type TaskInfo,
} from '../../deploy/docker/index.js';

// The Swarm deployer against an in-memory Swarm: what it creates, how it pins images, when it
// decides an update is done or failed, and the order of a teardown. No Docker needed.

interface FakeService {
  id: string;
  version: number;
  spec: ServiceSpec;
  updateState: string | null;
}

function fakeSwarm(options: { manager?: boolean; rollback?: boolean; inUse?: number } = {}) {
  const services = new Map<string, FakeService>();
  const configs = new Map<string, string>();
  const networks = new Map<string, string>();
  const log: string[] = [];
  let inUse = options.inUse ?? 0;
  let seq = 0;
  const image = (s: ServiceSpec) =>
    (s.TaskTemplate as { ContainerSpec: { Image: string; Labels: Record<string, string> } }).ContainerSpec;
  const swarm: SwarmEngine = {
    swarmManager: async () => options.manager ?? true,
    image: async (name) =>
      name === 'gatehouse:latest'
        ? { id: 'sha256:local', repoDigests: [] }
        : name === 'registry.example/gatehouse:v2'
          ? { id: 'sha256:v2', repoDigests: ['registry.example/gatehouse@sha256:pushed'] }
          : null,
    listServices: async (f) =>
      [...services.values()]
        .filter((s) => (f.name ?? []).every((n) => s.spec.Name.startsWith(n)))
        .map((s) => ({
          id: s.id,
          name: s.spec.Name,
          version: s.version,
          spec: s.spec,
          updateState: s.updateState,
          updateMessage: 'task failed its healthcheck',
        })),
    async createService(spec) {
      const id = `svc${++seq}`;
      services.set(id, { id, version: 1, spec, updateState: null });
      log.push(`create ${spec.Name}`);
      return id;
    },
    async updateService(id, version, spec) {
      const s = services.get(id)!;
      assert.equal(version, s.version, 'updates name the current version');
      const rolledBack = options.rollback && image(spec).Image !== image(s.spec).Image;
      services.set(id, {
        id,
        version: version + 1,
        spec: rolledBack ? s.spec : spec,
        updateState: rolledBack ? 'rollback_completed' : 'completed',
      });
      log.push(`update ${spec.Name}`);
    },
    async removeService(id) {
      log.push(`remove ${services.get(id)?.spec.Name}`);
      services.delete(id);
    },
    // Every task of a service runs at once, as its spec says.
    listTasks: async (f) =>
      [...services.values()]
        .filter((s) => f.service?.includes(s.id))
        .flatMap((s) =>
          Array.from(
            { length: s.spec.Mode?.Replicated?.Replicas ?? 0 },
            (_, i): TaskInfo => ({
              id: `${s.id}.${i + 1}`,
              serviceId: s.id,
              slot: i + 1,
              desired: 'running',
              state: 'running',
              error: '',
              image: image(s.spec).Image,
              labels: image(s.spec).Labels,
              addresses: { net1: `10.0.1.${i + 2}` },
              ports: [],
              containerId: '',
            }),
          ),
        ),
    listNetworks: async () => [...networks].map(([id, name]) => ({ id, name })),
    async createNetwork(spec) {
      networks.set('net1', spec.Name);
      log.push(`create network ${spec.Name}`);
      return 'net1';
    },
    async removeNetwork(id) {
      // The engine refuses while the removed services' tasks are still stopping.
      if (inUse-- > 0) throw new Error('network has active endpoints');
      log.push(`remove network ${networks.get(id)}`);
      networks.delete(id);
    },
    listConfigs: async () => [...configs].map(([id, name]) => ({ id, name })),
    async createConfig(spec) {
      configs.set(`cfg${++seq}`, spec.Name);
      log.push(`create config ${spec.Name}`);
      return `cfg${seq}`;
    },
    async removeConfig(id) {
      log.push(`remove config ${configs.get(id)}`);
      configs.delete(id);
    },
  };
  return { swarm, services, log };
}

const config = stackConfig('gs', null, 'test', 'swarm');
const up = {
  image: 'gatehouse:latest',
  workers: 2,
  config,
  bind: '127.0.0.1',
  port: 8080,
  socket: '',
  socketGid: null,
};
const deployerFor = (swarm: SwarmEngine) =>
  createSwarmDeployer({ swarm, stack: 'gs', sleep: async () => {}, timeout: 1_000, pollInterval: 1 });
const spec = (services: Map<string, FakeService>, name: string) =>
  [...services.values()].find((s) => s.spec.Name === name)!.spec;

describe('gatehouse deploy --swarm (fake swarm)', () => {
  test('up makes the network, the config, then the workers and the proxy, named as docker stack deploy would', async () => {
    const { swarm, services, log } = fakeSwarm();
    const result = await deployerFor(swarm).up(up);
    assert.deepEqual(result, { url: 'http://127.0.0.1:8080', workers: 2 });
    assert.deepEqual(
      log.map((l) => l.replace(/gatehouse-[0-9a-f]{12}/, 'gatehouse-HASH')),
      ['create network gs_default', 'create config gs_gatehouse-HASH', 'create gs_app', 'create gs_proxy'],
    );
    const app = spec(services, 'gs_app');
    assert.equal(app.Labels?.['com.docker.stack.namespace'], 'gs');
    assert.deepEqual(app.TaskTemplate && 'Networks' in app.TaskTemplate && app.TaskTemplate.Networks, [
      { Target: 'net1', Aliases: ['app'] },
    ]);
    assert.match(config.text, /host: tasks\.app/);
  });

  test('pins a local image by ID, a pushed one by its registry digest', async () => {
    const { swarm, services } = fakeSwarm();
    const deployer = deployerFor(swarm);
    await deployer.up(up);
    const imageOf = () =>
      (spec(services, 'gs_app').TaskTemplate as { ContainerSpec: { Image: string } }).ContainerSpec.Image;
    assert.equal(imageOf(), 'sha256:local');
    await deployer.rollout({ image: 'registry.example/gatehouse:v2', config });
    assert.equal(imageOf(), 'registry.example/gatehouse@sha256:pushed');
    const rows = await deployer.status();
    assert.deepEqual(
      rows.map((r) => [r.name, r.role, r.image]),
      [
        ['gs_proxy.1', 'proxy', 'gatehouse:latest'],
        ['gs_app.1', 'worker', 'registry.example/gatehouse:v2'],
        ['gs_app.2', 'worker', 'registry.example/gatehouse:v2'],
      ],
    );
  });

  test("a rolled-back update fails with Swarm's reason; a missing image or swarm fails before any change", async () => {
    const { swarm } = fakeSwarm({ rollback: true });
    const deployer = deployerFor(swarm);
    await deployer.up(up);
    await assert.rejects(deployer.rollout({ image: 'registry.example/gatehouse:v2', config }), {
      code: 'GH_ERR_DEPLOY_UNHEALTHY',
      message: /update rollback completed: task failed its healthcheck/,
    });
    await assert.rejects(deployer.rollout({ image: 'nope:1', config }), { code: 'GH_ERR_DEPLOY_NO_IMAGE' });
    const none = fakeSwarm({ manager: false });
    await assert.rejects(deployerFor(none.swarm).up(up), { code: 'GH_ERR_DEPLOY_NO_SWARM' });
    assert.deepEqual(none.log, []);
  });

  test('scale keeps the running image; down removes the proxy first and retries the network until free', async () => {
    const { swarm, services, log } = fakeSwarm({ inUse: 3 });
    const deployer = deployerFor(swarm);
    await deployer.up(up);
    assert.deepEqual(await deployer.scale({ workers: 4, config }), { started: 2, stopped: 0 });
    assert.equal(spec(services, 'gs_app').Mode?.Replicated?.Replicas, 4);
    log.length = 0;
    assert.deepEqual(await deployer.down(), { containers: 2, networks: 1 });
    assert.deepEqual(
      log.map((l) => l.replace(/gatehouse-[0-9a-f]{12}/, 'gatehouse-HASH')),
      ['remove gs_proxy', 'remove gs_app', 'remove network gs_default', 'remove config gs_gatehouse-HASH'],
    );
  });
});
