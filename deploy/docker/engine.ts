import Docker from 'dockerode';
import { DeployError } from './errors.js';

export type ContainerSpec = Docker.ContainerCreateOptions & { name: string };
export type NetworkSpec = Docker.NetworkCreateOptions;
/** The engine's list filters: `{ label: ['a=b'], status: ['running'] }`. */
export type Filters = Record<string, string[]>;
/** A build context: a directory with the files to send, or a ready tar stream. */
export type BuildContext = NodeJS.ReadableStream | { context: string; src: string[] };

export interface BuildImageOptions {
  t: string;
  buildargs?: Record<string, string>;
}

/** One container as the engine lists it. */
export interface ContainerInfo {
  id: string;
  name: string;
  /** The image as the container was created from it (a tag, or an ID if the tag moved on). */
  image: string;
  imageId: string;
  labels: Readonly<Record<string, string>>;
  /** created | running | exited | ... */
  state: string;
  /** "Up 3 minutes (healthy)" */
  status: string;
  /** Unix seconds. */
  created: number;
  /** network name → IPv4 address */
  networks: Readonly<Record<string, string>>;
  /** Published ports: "127.0.0.1:8080->8080/tcp". */
  ports: readonly string[];
}

export interface ContainerDetails {
  id: string;
  name: string;
  running: boolean;
  /** created | running | restarting | exited | dead */
  status: string;
  /** healthy | unhealthy | starting | none (no healthcheck) */
  health: string;
  exitCode: number;
}

export interface NetworkInfo {
  id: string;
  name: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * The slice of the Docker Engine API the deployer uses, by IDs and plain objects, so the deploy
 * logic is tested against an in-memory fake. createEngine adapts dockerode to it.
 */
export interface Engine {
  ping(): Promise<void>;
  buildImage(context: BuildContext, options: BuildImageOptions): Promise<NodeJS.ReadableStream>;
  /** The image's ID, or null if the engine has no such image (the deployer never pulls). */
  imageId(name: string): Promise<string | null>;
  removeImage(name: string): Promise<void>;
  listContainers(filters: Filters, options?: { all?: boolean }): Promise<ContainerInfo[]>;
  createContainer(spec: ContainerSpec): Promise<string>;
  startContainer(id: string): Promise<void>;
  /**
   * SIGTERM (the image's stop signal), then SIGKILL after timeoutSeconds (default: the container's
   * own StopTimeout); a stopped container is fine.
   */
  stopContainer(id: string, timeoutSeconds?: number): Promise<void>;
  /** Removes a container and its anonymous volumes; one already gone is fine. */
  removeContainer(id: string): Promise<void>;
  inspectContainer(id: string): Promise<ContainerDetails>;
  /** Writes one file into a container (created or running) through the engine, not a bind mount. */
  putArchive(id: string, directory: string, tar: Buffer): Promise<void>;
  listNetworks(filters: Filters): Promise<NetworkInfo[]>;
  createNetwork(spec: NetworkSpec): Promise<string>;
  removeNetwork(id: string): Promise<void>;
}

/** The Engine on dockerode: DOCKER_HOST / the default socket when no client is given. */
export function createEngine(docker: Docker = new Docker()): Engine {
  return {
    async ping() {
      await engineCall('ping', () => docker.ping());
    },
    buildImage(context, options) {
      return engineCall('build', () => docker.buildImage(context, { ...options, forcerm: true }));
    },
    async imageId(name) {
      try {
        return (await docker.getImage(name).inspect()).Id;
      } catch (error) {
        if (statusCode(error) === 404) return null;
        throw engineError('inspect image', error);
      }
    },
    async removeImage(name) {
      await tolerate([404], () => docker.getImage(name).remove({ force: true }), 'remove image');
    },
    async listContainers(filters, options = {}) {
      const list = await engineCall('list containers', () =>
        docker.listContainers({ all: options.all ?? false, filters: JSON.stringify(filters) }),
      );
      return list.map(function toInfo(c): ContainerInfo {
        const networks = Object.fromEntries(
          Object.entries(c.NetworkSettings?.Networks ?? {}).map(([name, net]) => [name, net.IPAddress ?? '']),
        );
        return {
          id: c.Id,
          name: (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, ''),
          image: c.Image,
          imageId: c.ImageID,
          labels: c.Labels ?? {},
          state: c.State,
          status: c.Status,
          created: c.Created,
          networks,
          ports: (c.Ports ?? [])
            .filter((p) => p.PublicPort)
            .map((p) => `${p.IP}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`),
        };
      });
    },
    async createContainer(spec) {
      return (await engineCall('create container', () => docker.createContainer(spec))).id;
    },
    async startContainer(id) {
      await tolerate([304], () => docker.getContainer(id).start(), 'start container');
    },
    async stopContainer(id, timeoutSeconds) {
      const options = timeoutSeconds === undefined ? {} : { t: timeoutSeconds };
      await tolerate([304, 404], () => docker.getContainer(id).stop(options), 'stop container');
    },
    async removeContainer(id) {
      await tolerate(
        [404],
        () => docker.getContainer(id).remove({ force: true, v: true }),
        'remove container',
      );
    },
    async inspectContainer(id) {
      const info = await engineCall('inspect container', () => docker.getContainer(id).inspect());
      return {
        id: info.Id,
        name: info.Name.replace(/^\//, ''),
        running: info.State.Running,
        status: info.State.Status,
        health: info.State.Health?.Status ?? 'none',
        exitCode: info.State.ExitCode,
      };
    },
    async putArchive(id, directory, tar) {
      await engineCall('copy into container', () =>
        docker.getContainer(id).putArchive(tar, { path: directory }),
      );
    },
    async listNetworks(filters) {
      const list = await engineCall('list networks', () =>
        docker.listNetworks({ filters: JSON.stringify(filters) }),
      );
      return list.map((n) => ({ id: n.Id, name: n.Name, labels: n.Labels ?? {} }));
    },
    async createNetwork(spec) {
      return (await engineCall('create network', () => docker.createNetwork(spec))).id;
    },
    async removeNetwork(id) {
      await tolerate([404], () => docker.getNetwork(id).remove(), 'remove network');
    },
  };
}

export async function engineCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw engineError(what, error);
  }
}

/** Runs a call whose listed HTTP statuses mean "already so" (304 already stopped, 404 already gone). */
export async function tolerate(
  statuses: number[],
  call: () => Promise<unknown>,
  what: string,
): Promise<void> {
  try {
    await call();
  } catch (error) {
    if (!statuses.includes(statusCode(error) ?? 0)) throw engineError(what, error);
  }
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

function engineError(what: string, error: unknown): DeployError {
  if (error instanceof DeployError) return error;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const reason =
    (error as { json?: { message?: string } } | null)?.json?.message ??
    (error as Error)?.message ??
    String(error);
  const hint =
    code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES'
      ? ' (is the Docker engine running, and may this user use its socket?)'
      : '';
  return new DeployError('GH_ERR_DEPLOY_ENGINE', `docker ${what}: ${reason.trim()}${hint}`, { cause: error });
}
