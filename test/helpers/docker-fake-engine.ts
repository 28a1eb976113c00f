import { Readable } from 'node:stream';
import type {
  ContainerDetails,
  ContainerInfo,
  ContainerSpec,
  Engine,
  Filters,
  NetworkInfo,
} from '../../deploy/docker/engine.js';

interface FakeContainer {
  id: string;
  spec: ContainerSpec;
  state: 'created' | 'running' | 'exited';
  health: 'starting' | 'healthy';
  created: number;
  inspections: number;
  files: Map<string, Buffer>;
}

/**
 * A Docker engine in memory for the deployer's unit tests. Containers start `running` with health
 * `starting` and turn healthy on their second inspection; images in `crashing` exit at start.
 * `log` records every change in order, so a test can check what happened before what.
 */
export function fakeEngine(options: { images?: Record<string, string>; crashing?: string[] } = {}) {
  const images = new Map(Object.entries(options.images ?? { 'gatehouse:latest': 'sha256:aaa' }));
  const crashing = new Set(options.crashing ?? []);
  const containers = new Map<string, FakeContainer>();
  const networks = new Map<string, NetworkInfo>();
  const log: string[] = [];
  let seq = 0;

  const matches = (labels: Record<string, string>, filters: Filters) =>
    (filters.label ?? []).every((f) => {
      const [key, value] = f.split('=');
      return labels[key!] === value;
    });
  const get = (id: string) => {
    const c = containers.get(id);
    if (!c) throw Object.assign(new Error(`no such container ${id}`), { statusCode: 404 });
    return c;
  };

  const engine: Engine = {
    async ping() {},
    async buildImage() {
      return Readable.from([]);
    },
    async imageId(name) {
      return images.get(name) ?? null;
    },
    async removeImage(name) {
      images.delete(name);
    },
    async listContainers(filters, opts = {}) {
      return [...containers.values()]
        .filter((c) => (opts.all || c.state === 'running') && matches(c.spec.Labels ?? {}, filters))
        .map(
          (c): ContainerInfo => ({
            id: c.id,
            name: c.spec.name,
            image: c.spec.Image ?? '',
            imageId: images.get(c.spec.Image ?? '') ?? '',
            labels: c.spec.Labels ?? {},
            state: c.state,
            status:
              c.state === 'running'
                ? `Up 1 second (${c.health === 'healthy' ? 'healthy' : 'health: starting'})`
                : 'Exited (0)',
            created: c.created,
            networks: { [String(c.spec.HostConfig?.NetworkMode)]: `172.30.0.${c.created + 1}` },
            ports: Object.values(c.spec.HostConfig?.PortBindings ?? {}).flatMap((bindings) =>
              (bindings as Array<{ HostIp: string; HostPort: string }>).map(
                (b) => `${b.HostIp}:${b.HostPort}->8080/tcp`,
              ),
            ),
          }),
        );
    },
    async createContainer(spec) {
      if (!images.has(spec.Image ?? '')) throw Object.assign(new Error('No such image'), { statusCode: 404 });
      if ([...containers.values()].some((c) => c.spec.name === spec.name))
        throw new Error(`name ${spec.name} in use`);
      const id = `id-${spec.name}`;
      containers.set(id, {
        id,
        spec,
        state: 'created',
        health: 'starting',
        created: ++seq,
        inspections: 0,
        files: new Map(),
      });
      log.push(`create ${spec.name}`);
      return id;
    },
    async startContainer(id) {
      const c = get(id);
      c.state = crashing.has(c.spec.Image ?? '') ? 'exited' : 'running';
      log.push(`start ${c.spec.name}`);
    },
    async stopContainer(id, timeoutSeconds) {
      const c = get(id);
      c.state = 'exited';
      log.push(`stop ${c.spec.name} ${timeoutSeconds ?? 'default'}`);
    },
    async removeContainer(id) {
      const c = containers.get(id);
      if (!c) return;
      containers.delete(id);
      log.push(`remove ${c.spec.name}`);
    },
    async inspectContainer(id): Promise<ContainerDetails> {
      const c = get(id);
      if (c.state === 'running' && ++c.inspections >= 2 && c.health === 'starting') {
        c.health = 'healthy';
        log.push(`healthy ${c.spec.name}`);
      }
      return {
        id,
        name: c.spec.name,
        running: c.state === 'running',
        status: c.state,
        health: c.state === 'running' ? c.health : 'none',
        exitCode: c.state === 'exited' ? 1 : 0,
      };
    },
    async putArchive(id, directory, tar) {
      const c = get(id);
      const name = tar.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      const size = Number.parseInt(tar.subarray(124, 135).toString('utf8'), 8);
      c.files.set(`${directory}/${name}`, tar.subarray(512, 512 + size));
    },
    async listNetworks(filters) {
      return [...networks.values()].filter(
        (n) => matches({ ...n.labels }, filters) && (!filters.name || filters.name.includes(n.name)),
      );
    },
    async createNetwork(spec) {
      const id = `net-${spec.Name}`;
      networks.set(id, { id, name: spec.Name, labels: spec.Labels ?? {} });
      log.push(`create network ${spec.Name}`);
      return id;
    },
    async removeNetwork(id) {
      const n = networks.get(id);
      networks.delete(id);
      if (n) log.push(`remove network ${n.name}`);
    },
  };
  return {
    engine,
    log,
    containers,
    networks,
    images,
    /** Running containers of a role, by name. */
    running(role: string): FakeContainer[] {
      return [...containers.values()].filter(
        (c) => c.state === 'running' && c.spec.Labels?.['gatehouse.role'] === role,
      );
    },
  };
}
