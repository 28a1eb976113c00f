import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { ROLE_LABEL, ROUTE_LABEL, stackLabelFilter } from '../../stack/labels.js';
import type { ContainerInfo, Engine } from './engine.js';
import { DeployError } from './errors.js';
import { healthVerdictMs, networkName, networkSpec, proxySpec, workerName, workerSpec } from './specs.js';
import {
  CONFIG_DIR,
  CONFIG_NAME,
  type RoutePool,
  type StackConfig,
  stopTimeoutSeconds,
} from './stack-config.js';
import { type StatusRow, statusRows } from './status.js';
import { tarFile } from './tar-file.js';
import { waitHealthy } from './wait.js';

export interface DeployerOptions {
  engine: Engine;
  /** Everything the deployer creates carries gatehouse.stack=<stack>. */
  stack: string;
  /** Progress lines for the user. */
  out?: (line: string) => void;
  /** How long new containers get to become healthy, in ms; default: as long as the engine's healthcheck gives them. */
  healthTimeout?: number;
  pollInterval?: number;
  /**
   * In a rollout, the pause between the new workers turning healthy and the old ones being
   * stopped, in ms: time for discovery to see the health events and the proxy to swap its pool.
   */
  settle?: number;
  sleep?: (ms: number) => Promise<unknown>;
  now?: () => number;
  /** Suffix of new worker names (random hex). */
  suffix?: () => string;
}

export interface UpOptions {
  image: string;
  workers: number;
  config: StackConfig;
  /** Where the proxy is published: 127.0.0.1:8080. */
  bind: string;
  port: number;
  /** The engine socket on the engine's host, and the group that may open it. */
  socket: string;
  socketGid: number | null;
}

export interface ScaleOptions {
  workers: number;
  config: StackConfig;
  /** The image of new workers; default: the newest running worker's. */
  image?: string;
}

export interface RolloutOptions {
  image: string;
  config: StackConfig;
}

export interface Deployer {
  up(options: UpOptions): Promise<{ url: string; workers: number }>;
  scale(options: ScaleOptions): Promise<{ started: number; stopped: number }>;
  rollout(options: RolloutOptions): Promise<{ started: number; stopped: number }>;
  status(): Promise<StatusRow[]>;
  down(): Promise<{ containers: number; networks: number }>;
}

/**
 * The stack on a Docker engine: one network, N worker containers (and, for each route with workers
 * of its own, that route's count of containers labelled with it) and a proxy container that finds
 * each pool's workers by their labels (proxy/sources/docker). The deployer only starts, checks and stops
 * containers; it never tells the proxy anything — the pool follows from what runs.
 */
export function createDeployer(options: DeployerOptions): Deployer {
  const {
    engine,
    stack,
    out = () => {},
    healthTimeout = healthVerdictMs,
    pollInterval = 500,
    settle = 2_000,
    sleep = delay,
    now = Date.now,
    suffix = () => randomBytes(3).toString('hex'),
  } = options;
  const network = networkName(stack);

  async function requireImage(image: string): Promise<string> {
    const id = await engine.imageId(image);
    if (id === null) {
      throw new DeployError(
        'GH_ERR_DEPLOY_NO_IMAGE',
        `image ${image} is not in the engine; build it with: npx gatehouse deploy build --image ${image}`,
      );
    }
    return id;
  }

  async function stackNetwork(): Promise<string | null> {
    // The engine's name filter matches substrings: compare the names.
    const found = await engine.listNetworks({ label: stackLabelFilter(stack), name: [network] });
    return found.find((n) => n.name === network)?.id ?? null;
  }

  async function requireUp(): Promise<void> {
    if ((await stackNetwork()) === null) {
      throw new DeployError(
        'GH_ERR_DEPLOY_NOT_UP',
        `stack ${stack} is not up; start it with: npx gatehouse deploy up`,
      );
    }
  }

  /** The stack's containers of one role, stopped ones included. */
  function containers(role: 'worker' | 'proxy'): Promise<ContainerInfo[]> {
    return engine.listContainers({ label: stackLabelFilter(stack, role) }, { all: true });
  }

  /** Creates, configures and starts workers (of `pool`, else the top level), and waits for them; on failure removes them again. */
  async function startWorkers(
    count: number,
    image: string,
    config: StackConfig,
    pool?: RoutePool,
  ): Promise<string[]> {
    const ids: string[] = [];
    const stopTimeout = stopTimeoutSeconds(config.config.workers.gracePeriod);
    try {
      for (let i = 0; i < count; i++) {
        const name = workerName(stack, suffix(), pool?.route);
        const spec = workerSpec({ stack, image, network, stopTimeout, name, ...(pool ? { pool } : {}) });
        const id = await engine.createContainer(spec);
        ids.push(id);
        await engine.putArchive(id, CONFIG_DIR, tarFile(CONFIG_NAME, config.text));
        await engine.startContainer(id);
        out(`started ${spec.name} (${image})`);
      }
      await waitHealthy(engine, ids, { timeout: healthTimeout, interval: pollInterval, sleep, now });
      out(`${count} worker${count === 1 ? '' : 's'} healthy`);
      return ids;
    } catch (error) {
      await Promise.all(ids.map((id) => engine.removeContainer(id).catch(() => {})));
      throw error;
    }
  }

  /**
   * Stops workers as `docker stop` does: SIGTERM, then SIGKILL only after the drain time. Discovery
   * sees the signal and takes each out of the pool while it finishes its in-flight requests.
   */
  async function retire(workers: readonly ContainerInfo[], config: StackConfig): Promise<void> {
    const stopTimeout = stopTimeoutSeconds(config.config.workers.gracePeriod);
    await Promise.all(
      workers.map(async (worker) => {
        await engine.stopContainer(worker.id, stopTimeout);
        await engine.removeContainer(worker.id);
        out(`stopped ${worker.name}`);
      }),
    );
  }

  /** Running workers of `route` (else the top level's) oldest first; stopped or crashed ones are removed on the way. */
  async function runningWorkers(route?: string): Promise<ContainerInfo[]> {
    const all = (await containers('worker')).filter((c) => c.labels[ROUTE_LABEL] === route);
    const dead = all.filter((c) => c.state !== 'running');
    for (const c of dead) {
      await engine.removeContainer(c.id);
      out(`removed ${c.name} (${c.state})`);
    }
    return all.filter((c) => c.state === 'running').sort((a, b) => a.created - b.created);
  }

  async function scaleTo(target: number, image: string | undefined, config: StackConfig, pool?: RoutePool) {
    const running = await runningWorkers(pool?.route);
    if (target > running.length) {
      const use = image ?? running.at(-1)?.image;
      if (use === undefined)
        throw new DeployError('GH_ERR_DEPLOY_NO_IMAGE', 'no image given and no worker to copy it from');
      await requireImage(use);
      await startWorkers(target - running.length, use, config, pool);
      return { started: target - running.length, stopped: 0 };
    }
    if (target < running.length) {
      await retire(running.slice(target), config);
      return { started: 0, stopped: running.length - target };
    }
    out(`${target} worker${target === 1 ? '' : 's'} running already`);
    return { started: 0, stopped: 0 };
  }

  return {
    async up(up) {
      await engine.ping();
      await requireImage(up.image);
      if ((await stackNetwork()) === null) {
        const conflict = await engine.listNetworks({ name: [network] });
        if (conflict.some((n) => n.name === network)) {
          throw new DeployError(
            'GH_ERR_DEPLOY_CONFLICT',
            `a network named ${network} exists and is not stack ${stack}'s`,
          );
        }
        await engine.createNetwork(networkSpec(stack));
        out(`created network ${network}`);
      }
      await scaleTo(up.workers, up.image, up.config);
      for (const pool of up.config.routePools) await scaleTo(pool.count, up.image, up.config, pool);

      const proxies = await containers('proxy');
      const url = `http://${up.bind.includes(':') ? `[${up.bind}]` : up.bind}:${up.port}/`;
      if (proxies.some((p) => p.state === 'running')) {
        out(`proxy running already: ${proxies.find((p) => p.state === 'running')!.ports.join(', ')}`);
        return { url, workers: up.workers };
      }
      for (const p of proxies) await engine.removeContainer(p.id);
      const spec = proxySpec({
        stack,
        image: up.image,
        network,
        stopTimeout: stopTimeoutSeconds(up.config.config.timeouts.shutdown),
        bind: up.bind,
        port: up.port,
        socket: up.socket,
        socketGid: up.socketGid,
      });
      const id = await engine.createContainer(spec);
      await engine.putArchive(id, CONFIG_DIR, tarFile(CONFIG_NAME, up.config.text));
      await engine.startContainer(id);
      out(`started ${spec.name}, published on ${url}`);
      await waitHealthy(engine, [id], { timeout: healthTimeout, interval: pollInterval, sleep, now });
      out('proxy healthy');
      return { url, workers: up.workers };
    },

    async scale(scale) {
      await requireUp();
      return scaleTo(scale.workers, scale.image, scale.config);
    },

    async rollout(rollout) {
      await requireUp();
      const imageId = await requireImage(rollout.image);
      const old = await runningWorkers();
      if (old.length === 0)
        throw new DeployError('GH_ERR_DEPLOY_NOT_UP', `stack ${stack} has no running worker to replace`);
      // Every pool at once, each keeping its size: the top level's and each route's own.
      const groups = [
        { old, pool: undefined },
        ...(await Promise.all(
          rollout.config.routePools.map(async (pool) => ({ old: await runningWorkers(pool.route), pool })),
        )),
      ];
      const total = groups.reduce((sum, group) => sum + group.old.length, 0);
      out(
        `rolling out ${rollout.image} (${imageId.replace(/^sha256:/, '').slice(0, 12)}) over ${total} workers`,
      );
      // New beside old: the pool never shrinks below its size. Every pool's new workers start at once
      // (a rollout takes as long as its slowest pool, not their sum), and a bad image stops here —
      // with the new workers of the pools that did turn healthy removed again, so every pool is as
      // it was (startWorkers removes its own on failure).
      const starts = await Promise.allSettled(
        groups
          .filter((group) => group.old.length > 0)
          .map((group) => startWorkers(group.old.length, rollout.image, rollout.config, group.pool)),
      );
      const failed = starts.find((start) => start.status === 'rejected');
      if (failed) {
        const started = starts.flatMap((start) => (start.status === 'fulfilled' ? start.value : []));
        await Promise.all(started.map((id) => engine.removeContainer(id).catch(() => {})));
        throw failed.reason;
      }
      out(`waiting ${settle} ms for the proxy to add the new workers`);
      await sleep(settle);
      await retire(
        groups.flatMap((group) => group.old),
        rollout.config,
      );
      return { started: total, stopped: total };
    },

    async status() {
      return statusRows(await engine.listContainers({ label: stackLabelFilter(stack) }, { all: true }));
    },

    async down() {
      const all = await engine.listContainers({ label: stackLabelFilter(stack) }, { all: true });
      const proxies = all.filter((c) => c.labels[ROLE_LABEL] === 'proxy');
      const rest = all.filter((c) => !proxies.includes(c));
      // The front first, so no request arrives at a worker that is going away.
      for (const group of [proxies, rest]) {
        await Promise.all(
          group.map(async (c) => {
            // Each container's own StopTimeout: longer than its drain.
            await engine.stopContainer(c.id);
            await engine.removeContainer(c.id);
            out(`removed ${c.name}`);
          }),
        );
      }
      const networks = await engine.listNetworks({ label: stackLabelFilter(stack) });
      for (const n of networks) {
        await engine.removeNetwork(n.id);
        out(`removed network ${n.name}`);
      }
      return { containers: all.length, networks: networks.length };
    },
  };
}
