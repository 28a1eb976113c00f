import { ROLE_LABEL, type Role, STACK_LABEL } from '../../stack/labels.js';
import { healthcheck } from './specs.js';

/**
 * The containers' healthcheck, as patient as the deployer's (specs.ts): Swarm even replaces a task
 * that turns unhealthy (plain Docker only reports it), so a busy host must not fail ten probes in a
 * row of a working task.
 */
export const swarmHealthcheck = healthcheck;

import { CONFIG_PATH, PROXY_PORT, STATUS_PORT } from './stack-config.js';
import type { ServiceSpec } from './swarm-engine.js';

const SECOND = 1_000_000_000;
const MIB = 1024 * 1024;

/**
 * What `docker stack deploy` labels a stack's services, networks and configs with: the Swarm
 * deployer names and labels everything the same way, so `docker stack ps|services|rm NAME` work on
 * a stack it made, and `docker stack deploy -c docker-stack.yml NAME` updates the same services.
 */
export const NAMESPACE_LABEL = 'com.docker.stack.namespace';

/** What `docker stack deploy` labels a service with: the image as the file names it. */
export const IMAGE_LABEL = 'com.docker.stack.image';

/** An image as a service runs it (`ref`: a digest or an ID, see the deployer) and as it was named. */
export interface SwarmImage {
  ref: string;
  tag: string;
}

/** The short names the services answer to on the stack network (tasks.app: every app task). */
export const SERVICE_ALIAS: Record<Role, string> = { worker: 'app', proxy: 'proxy' };

export function serviceName(stack: string, role: Role): string {
  return `${stack}_${SERVICE_ALIAS[role]}`;
}

export function swarmNetworkName(stack: string): string {
  return `${stack}_default`;
}

/** Swarm configs are immutable: a changed gatehouse config is a new one, named by its content. */
export function swarmConfigName(stack: string, hash: string): string {
  return `${stack}_gatehouse-${hash}`;
}

export function swarmLabels(stack: string, role?: Role): Record<string, string> {
  return { [NAMESPACE_LABEL]: stack, [STACK_LABEL]: stack, ...(role ? { [ROLE_LABEL]: role } : {}) };
}

export interface ServiceSpecOptions {
  stack: string;
  image: SwarmImage;
  networkId: string;
  config: { id: string; name: string };
  /** Seconds between SIGTERM and SIGKILL: longer than the drain. */
  stopTimeout: number;
}

/**
 * The settings docker-stack.yml gives the same services (a unit test holds the two together):
 * dnsrr endpoints (no virtual IP; the proxy resolves tasks.app), health-gated start-first rolling
 * updates of the workers that roll back on failure, restart on any exit, resource limits.
 */
function taskTemplate(options: ServiceSpecOptions, role: Role, args: string[], env: string[] = []) {
  const { stack, image, networkId, config, stopTimeout } = options;
  // No CPU quota on the proxy: every request passes through it, and a quota would throttle its
  // health probe with it under load, until Swarm replaced a proxy that works.
  const limits =
    role === 'worker' ? { NanoCPUs: 1 * SECOND, MemoryBytes: 512 * MIB } : { MemoryBytes: 256 * MIB };
  return {
    ContainerSpec: {
      Image: image.ref,
      Args: [...args, '--config', CONFIG_PATH],
      Env: env,
      Labels: { ...swarmLabels(stack, role), [IMAGE_LABEL]: image.tag },
      // Docker's tini as PID 1 forwards SIGTERM to Node and reaps zombies.
      Init: true,
      StopGracePeriod: stopTimeout * SECOND,
      // Swarm adds a task to DNS (tasks.app) only once this passes: new workers join healthy.
      // The Swarm API spells it HealthCheck (a container's config: Healthcheck).
      HealthCheck: swarmHealthcheck,
      Configs: [
        {
          File: { Name: CONFIG_PATH, UID: '0', GID: '0', Mode: 0o444 },
          ConfigID: config.id,
          ConfigName: config.name,
        },
      ],
    },
    RestartPolicy: {
      Condition: 'any',
      Delay: 2 * SECOND,
      ...(role === 'worker' ? { Window: 30 * SECOND } : {}),
    },
    Resources: { Limits: limits, Reservations: { NanoCPUs: 0.1 * SECOND, MemoryBytes: 64 * MIB } },
    Networks: [{ Target: networkId, Aliases: [SERVICE_ALIAS[role]] }],
  };
}

export function workerServiceSpec(options: ServiceSpecOptions & { replicas: number }): ServiceSpec {
  return {
    Name: serviceName(options.stack, 'worker'),
    Labels: { ...swarmLabels(options.stack, 'worker'), [IMAGE_LABEL]: options.image.tag },
    TaskTemplate: taskTemplate(options, 'worker', ['worker']),
    Mode: { Replicated: { Replicas: options.replicas } },
    UpdateConfig: {
      Parallelism: 2,
      Delay: 1 * SECOND,
      Order: 'start-first',
      FailureAction: 'rollback',
      Monitor: 5 * SECOND,
    },
    RollbackConfig: { Parallelism: 2, Order: 'start-first' },
    EndpointSpec: { Mode: 'dnsrr' },
  };
}

export function proxyServiceSpec(options: ServiceSpecOptions & { port: number }): ServiceSpec {
  return {
    Name: serviceName(options.stack, 'proxy'),
    Labels: { ...swarmLabels(options.stack, 'proxy'), [IMAGE_LABEL]: options.image.tag },
    TaskTemplate: taskTemplate(
      options,
      'proxy',
      ['proxy'],
      [`GATEHOUSE_HEALTH_URL=http://127.0.0.1:${STATUS_PORT}/healthz`],
    ),
    Mode: { Replicated: { Replicas: 1 } },
    // The host port is held by the running task: the new one can only start once it is gone.
    UpdateConfig: { Parallelism: 1, Order: 'stop-first', FailureAction: 'rollback' },
    EndpointSpec: {
      Mode: 'dnsrr',
      // Host mode: the ingress routing mesh (and its virtual IPs) is not needed, nor available
      // everywhere; the port is open on the node that runs the proxy task.
      Ports: [{ Protocol: 'tcp', TargetPort: PROXY_PORT, PublishedPort: options.port, PublishMode: 'host' }],
    },
  };
}
