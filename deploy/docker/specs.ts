import { NETWORK_LABEL, ROLE_LABEL, ROUTE_LABEL, type Role, STACK_LABEL } from '../../stack/labels.js';
import type { ContainerSpec, NetworkSpec } from './engine.js';
import { CONFIG_PATH, CONTAINER_SOCKET, PROXY_PORT, type RoutePool, STATUS_PORT } from './stack-config.js';

const SECOND = 1_000_000_000;

/** What every container of a stack shares. */
export interface StackSpecOptions {
  stack: string;
  image: string;
  network: string;
  /** Seconds between SIGTERM and SIGKILL on `docker stop`: longer than the drain. */
  stopTimeout: number;
}

export interface ProxySpecOptions extends StackSpecOptions {
  /** Host address and port the proxy is published on (127.0.0.1:8080). */
  bind: string;
  port: number;
  /** The engine socket on the engine's host, mounted for discovery. */
  socket: string;
  /** The group owning that socket, so the non-root proxy may open it; null to add none. */
  socketGid: number | null;
}

export function networkName(stack: string): string {
  return `${stack}-net`;
}

export function proxyName(stack: string): string {
  return `${stack}-proxy`;
}

/**
 * Worker names carry a random suffix: a rollout runs old and new side by side. A route's workers
 * carry the route's name too (what a container name may hold of it).
 */
export function workerName(stack: string, suffix: string, route?: string): string {
  return route
    ? `${stack}-worker-${route.replace(/[^a-zA-Z0-9_.-]/g, '_')}-${suffix}`
    : `${stack}-worker-${suffix}`;
}

export function stackLabels(stack: string, role: Role): Record<string, string> {
  return { [STACK_LABEL]: stack, [ROLE_LABEL]: role };
}

export function networkSpec(stack: string): NetworkSpec {
  return {
    Name: networkName(stack),
    Driver: 'bridge',
    CheckDuplicate: true,
    Labels: { [STACK_LABEL]: stack },
  };
}

/**
 * Checked every 2 s (the image's test, GET /healthz), so a new worker joins the pool about 2 s after
 * it listens; the engine's health_status event is what discovery reacts to. A container is healthy
 * at its first passing probe, so patience costs a start nothing; unhealthy only after 10 failures
 * of up to 10 s each: a busy host (each probe starts a `node`) must not fail a rollout or take a
 * working container out of the pool. 5 × 5 s did, on this 2-core machine at load 19.
 */
export const healthcheck = {
  Interval: 2 * SECOND,
  Timeout: 10 * SECOND,
  Retries: 10,
  StartPeriod: 15 * SECOND,
};

/**
 * How long the engine may take to call a new container unhealthy under `healthcheck`: its start
 * period, then every retry at its full interval and timeout (135 s). The deployer waits this long
 * before it gives up on a container that is neither healthy nor failed: a shorter wait would fail a
 * rollout on a busy host that the engine itself would have let pass.
 */
export const healthVerdictMs =
  (healthcheck.StartPeriod + healthcheck.Retries * (healthcheck.Interval + healthcheck.Timeout)) / 1_000_000;

/** What every container of a stack runs with, on the stack's network. */
function hostConfig(network: string) {
  // Docker's tini as PID 1 forwards SIGTERM to Node and reaps zombies.
  return { Init: true, NetworkMode: network, RestartPolicy: { Name: 'unless-stopped' } };
}

/**
 * A worker container: of the top-level pool, or of a route's own (labelled with the route, which
 * its pool's discovery filters on, and serving the route's app).
 */
export function workerSpec(options: StackSpecOptions & { name: string; pool?: RoutePool }): ContainerSpec {
  const { stack, image, network, stopTimeout, name, pool } = options;
  return {
    name,
    Image: image,
    Cmd: ['worker', '--config', CONFIG_PATH, ...(pool?.app ? ['--app', pool.app] : [])],
    Labels: {
      ...stackLabels(stack, 'worker'),
      [NETWORK_LABEL]: network,
      ...(pool ? { [ROUTE_LABEL]: pool.route } : {}),
    },
    StopTimeout: stopTimeout,
    Healthcheck: healthcheck,
    HostConfig: hostConfig(network),
  };
}

export function proxySpec(options: ProxySpecOptions): ContainerSpec {
  const { stack, image, network, stopTimeout, bind, port, socket, socketGid } = options;
  return {
    name: proxyName(stack),
    Image: image,
    Cmd: ['proxy', '--config', CONFIG_PATH],
    Env: [`GATEHOUSE_HEALTH_URL=http://127.0.0.1:${STATUS_PORT}/healthz`],
    Labels: stackLabels(stack, 'proxy'),
    ExposedPorts: { [`${PROXY_PORT}/tcp`]: {} },
    StopTimeout: stopTimeout,
    Healthcheck: healthcheck,
    HostConfig: {
      ...hostConfig(network),
      PortBindings: { [`${PROXY_PORT}/tcp`]: [{ HostIp: bind, HostPort: String(port) }] },
      // Read-only stops writes to the socket file, not API calls through it: see deploy/README.md.
      Binds: [`${socket}:${CONTAINER_SOCKET}:ro`],
      ...(socketGid === null ? {} : { GroupAdd: [String(socketGid)] }),
    },
  };
}
