import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { ROLE_LABEL, type Role } from '../../stack/labels.js';
import type { Deployer, RolloutOptions, ScaleOptions, UpOptions } from './deployer.js';
import { DeployError } from './errors.js';
import { type StackConfig, stopTimeoutSeconds, WORKER_PORT } from './stack-config.js';
import type { StatusRow } from './status.js';
import type { ServiceInfo, ServiceSpec, SwarmEngine, TaskInfo } from './swarm-engine.js';
import {
  IMAGE_LABEL,
  NAMESPACE_LABEL,
  proxyServiceSpec,
  SERVICE_ALIAS,
  type SwarmImage,
  serviceName,
  swarmConfigName,
  swarmLabels,
  swarmNetworkName,
  workerServiceSpec,
} from './swarm-specs.js';

export interface SwarmDeployerOptions {
  swarm: SwarmEngine;
  /** The stack (namespace): services <stack>_app and <stack>_proxy, network <stack>_default. */
  stack: string;
  out?: (line: string) => void;
  /** How long a change gets to converge (tasks running and healthy), in ms. */
  timeout?: number;
  pollInterval?: number;
  sleep?: (ms: number) => Promise<unknown>;
  now?: () => number;
}

/**
 * The stack as Swarm services, through the Engine's Swarm API: the orchestrator does the work the
 * container deployer does itself (health-gated start-first rollouts, restarts, scaling), and the
 * proxy finds the workers by re-resolving tasks.app. The same names and labels as
 * `docker stack deploy -c docker-stack.yml <stack>`, so either can manage what the other made.
 */
export function createSwarmDeployer(options: SwarmDeployerOptions): Deployer {
  const {
    swarm,
    stack,
    out = () => {},
    timeout = 180_000,
    pollInterval = 500,
    sleep = delay,
    now = Date.now,
  } = options;
  const namespace = [`${NAMESPACE_LABEL}=${stack}`];

  async function requireSwarm(): Promise<void> {
    if (!(await swarm.swarmManager())) {
      throw new DeployError(
        'GH_ERR_DEPLOY_NO_SWARM',
        'this engine is not a swarm manager; start a swarm with: docker swarm init (or run this on a manager)',
      );
    }
  }

  /**
   * The image pinned as the tasks will run it: its registry digest (name@sha256:…) once pushed,
   * which every node can pull; else its local ID, which only this node has (a single-node swarm, or
   * a build on each node). Either way a node that has the image starts a task without asking a
   * registry, and a tag moved later changes nothing until the next rollout.
   */
  async function requireImage(tag: string): Promise<SwarmImage> {
    const found = await swarm.image(tag);
    if (found === null) {
      throw new DeployError(
        'GH_ERR_DEPLOY_NO_IMAGE',
        `image ${tag} is not in the engine; build it with: npx gatehouse deploy build --image ${tag}` +
          ' (on several hosts, push it to a registry every node can pull from)',
      );
    }
    return { tag, ref: found.repoDigests[0] ?? found.id };
  }

  async function service(role: Role): Promise<ServiceInfo | null> {
    const name = serviceName(stack, role);
    // The name filter matches prefixes: compare the names.
    return (await swarm.listServices({ name: [name] })).find((s) => s.name === name) ?? null;
  }

  async function requireService(role: Role): Promise<ServiceInfo> {
    const found = await service(role);
    if (found === null) {
      throw new DeployError(
        'GH_ERR_DEPLOY_NOT_UP',
        `stack ${stack} is not up on the swarm; start it with: npx gatehouse deploy up --swarm`,
      );
    }
    return found;
  }

  async function ensureNetwork(): Promise<string> {
    const name = swarmNetworkName(stack);
    const found = (await swarm.listNetworks({ name: [name] })).find((n) => n.name === name);
    if (found) return found.id;
    const id = await swarm.createNetwork({
      Name: name,
      Driver: 'overlay',
      CheckDuplicate: true,
      Labels: swarmLabels(stack),
    });
    out(`created network ${name}`);
    return id;
  }

  async function ensureConfig(config: StackConfig): Promise<{ id: string; name: string }> {
    const hash = createHash('sha256').update(config.text).digest('hex').slice(0, 12);
    const name = swarmConfigName(stack, hash);
    const found = (await swarm.listConfigs({ name: [name] })).find((c) => c.name === name);
    if (found) return found;
    const id = await swarm.createConfig({
      Name: name,
      Labels: swarmLabels(stack),
      Data: Buffer.from(config.text).toString('base64'),
    });
    out(`created config ${name}`);
    return { id, name };
  }

  /** Creates the service, or updates it to the spec (Swarm rolls the tasks when the template changed). */
  async function apply(spec: ServiceSpec): Promise<void> {
    const existing = (await swarm.listServices({ name: [spec.Name] })).find((s) => s.name === spec.Name);
    if (existing) {
      await swarm.updateService(existing.id, existing.version, spec);
      out(`updated service ${spec.Name}`);
    } else {
      await swarm.createService(spec);
      out(`created service ${spec.Name}`);
    }
  }

  /** The tasks Swarm means to run (desired running), of one service. */
  async function liveTasks(serviceId: string): Promise<TaskInfo[]> {
    const tasks = await swarm.listTasks({ service: [serviceId], 'desired-state': ['running'] });
    return tasks.sort((a, b) => a.slot - b.slot);
  }

  /**
   * Waits until the service runs `replicas` tasks of `image`, all running (which, with a
   * healthcheck, Swarm reports only once healthy) and no update is in progress. A rolled-back or
   * paused update fails at once with Swarm's reason.
   */
  async function converged(role: Role, replicas: number, image: SwarmImage): Promise<void> {
    const deadline = now() + timeout;
    let last = '';
    for (;;) {
      const svc = await requireService(role);
      if (svc.updateState && /^(rollback|paused)/.test(svc.updateState)) {
        throw new DeployError(
          'GH_ERR_DEPLOY_UNHEALTHY',
          `${svc.name}: update ${svc.updateState.replace('_', ' ')}: ${svc.updateMessage}; see: docker service ps ${svc.name}`,
        );
      }
      const tasks = await liveTasks(svc.id);
      const ready = tasks.filter((t) => t.state === 'running' && t.image === image.ref);
      if (ready.length === replicas && tasks.length === replicas && svc.updateState !== 'updating') return;
      const failed = (await swarm.listTasks({ service: [svc.id] })).find(
        (t) => t.error && t.image === image.ref,
      );
      last = failed ? `; last task error: ${failed.error}` : '';
      if (now() >= deadline) {
        throw new DeployError(
          'GH_ERR_DEPLOY_UNHEALTHY',
          `${svc.name}: ${ready.length} of ${replicas} tasks of ${image.tag} running after ${Math.round(timeout / 1000)} s${last}; see: docker service ps ${svc.name}`,
        );
      }
      await sleep(pollInterval);
    }
  }

  function specOptions(
    image: SwarmImage,
    networkId: string,
    config: { id: string; name: string },
    s: StackConfig,
  ) {
    return { stack, image, networkId, config, stopTimeout: stopTimeoutSeconds(s.config.workers.gracePeriod) };
  }

  /** The image the service's tasks run now, and the tag it was deployed as. */
  function imageOf(svc: ServiceInfo): SwarmImage {
    const container = (svc.spec.TaskTemplate as { ContainerSpec?: { Image?: string } } | undefined)
      ?.ContainerSpec;
    const ref = container?.Image ?? '';
    return { ref, tag: svc.spec.Labels?.[IMAGE_LABEL] ?? ref };
  }

  function replicasOf(svc: ServiceInfo): number {
    return svc.spec.Mode?.Replicated?.Replicas ?? 0;
  }

  async function workerUpdate(image: SwarmImage, replicas: number, config: StackConfig): Promise<void> {
    const networkId = await ensureNetwork();
    const ref = await ensureConfig(config);
    await apply(workerServiceSpec({ ...specOptions(image, networkId, ref, config), replicas }));
    await converged('worker', replicas, image);
    out(
      `${serviceName(stack, 'worker')}: ${replicas} task${replicas === 1 ? '' : 's'} of ${image.tag} running`,
    );
  }

  /** Runs `action` until it does not throw, every pollInterval; the last error after the timeout. */
  async function retry(action: () => Promise<void>): Promise<void> {
    const deadline = now() + timeout;
    for (;;) {
      try {
        return await action();
      } catch (error) {
        if (now() >= deadline) throw error;
        await sleep(pollInterval);
      }
    }
  }

  return {
    async up(up: UpOptions) {
      await requireSwarm();
      const image = await requireImage(up.image);
      await workerUpdate(image, up.workers, up.config);
      const networkId = await ensureNetwork();
      const ref = await ensureConfig(up.config);
      await apply(proxyServiceSpec({ ...specOptions(image, networkId, ref, up.config), port: up.port }));
      await converged('proxy', 1, image);
      const url = `http://${up.bind === '0.0.0.0' ? '127.0.0.1' : up.bind}:${up.port}`;
      out(`${serviceName(stack, 'proxy')} running, published on port ${up.port} of the node running it`);
      return { url, workers: up.workers };
    },

    async scale(scale: ScaleOptions) {
      await requireSwarm();
      const svc = await requireService('worker');
      const before = replicasOf(svc);
      const image = scale.image ? await requireImage(scale.image) : imageOf(svc);
      await workerUpdate(image, scale.workers, scale.config);
      return {
        started: Math.max(scale.workers - before, 0),
        stopped: Math.max(before - scale.workers, 0),
      };
    },

    async rollout(rollout: RolloutOptions) {
      await requireSwarm();
      const image = await requireImage(rollout.image);
      const svc = await requireService('worker');
      const replicas = replicasOf(svc);
      out(`rolling out ${rollout.image} over ${replicas} tasks (start-first, two at a time, health-gated)`);
      await workerUpdate(image, replicas, rollout.config);
      return { started: replicas, stopped: replicas };
    },

    async status(): Promise<StatusRow[]> {
      const rows: StatusRow[] = [];
      for (const role of ['proxy', 'worker'] as const) {
        const svc = await service(role);
        if (svc === null) continue;
        const networkId = svc.spec.TaskTemplate?.Networks?.[0]?.Target ?? '';
        for (const task of await liveTasks(svc.id)) {
          const ip = task.addresses[networkId] ?? Object.values(task.addresses)[0];
          rows.push({
            name: `${svc.name}.${task.slot}`,
            role: svc.spec.Labels?.[ROLE_LABEL] ?? SERVICE_ALIAS[role],
            state: task.state,
            // Swarm reports a task with a healthcheck running only once it passed.
            health: task.state === 'running' ? 'healthy' : '-',
            address: role === 'worker' ? (ip ? `${ip}:${WORKER_PORT}` : '-') : task.ports.join(', ') || '-',
            image: task.labels[IMAGE_LABEL] ?? task.image,
          });
        }
      }
      return rows;
    },

    async down() {
      await requireSwarm();
      let services = 0;
      // The front first, so no request arrives at a worker that is going away.
      for (const role of ['proxy', 'worker'] as const) {
        const svc = await service(role);
        if (svc === null) continue;
        await swarm.removeService(svc.id);
        services++;
        out(`removed service ${svc.name}`);
      }
      // Tasks stop (draining: stop_grace_period) after their service is gone; the network and
      // configs stay in use until the last one has.
      const networks = (await swarm.listNetworks({ label: namespace })).filter(
        (n) => n.name === swarmNetworkName(stack),
      );
      // The engine refuses (network has active endpoints, config is in use) until they have.
      const removed: string[] = [];
      await retry(async () => {
        for (const n of networks.filter((x) => !removed.includes(x.id))) {
          await swarm.removeNetwork(n.id);
          removed.push(n.id);
          out(`removed network ${n.name}`);
        }
        for (const c of await swarm.listConfigs({ label: namespace })) {
          await swarm.removeConfig(c.id);
          out(`removed config ${c.name}`);
        }
      });
      return { containers: services, networks: networks.length };
    },
  };
}
