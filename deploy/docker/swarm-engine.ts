import type Docker from 'dockerode';
import { engineCall, type Filters, tolerate } from './engine.js';

/** A service spec as the Engine's Swarm API takes it (POST /services/create, …/update). */
export type ServiceSpec = Docker.ServiceSpec & { Name: string };

export interface ServiceInfo {
  id: string;
  name: string;
  /** The object version an update must name (optimistic concurrency). */
  version: number;
  spec: ServiceSpec;
  /** updating | completed | paused | rollback_started | rollback_completed | …; null: never updated. */
  updateState: string | null;
  updateMessage: string;
}

export interface TaskInfo {
  id: string;
  serviceId: string;
  slot: number;
  /** What the orchestrator wants: running | shutdown | … */
  desired: string;
  /** What it is: new | pending | … | starting | running | complete | shutdown | failed | rejected */
  state: string;
  error: string;
  image: string;
  /** The container labels of its spec (gatehouse.image: the tag the image was deployed as). */
  labels: Readonly<Record<string, string>>;
  /** The task's IPv4 address on each network it is attached to (network ID → address). */
  addresses: Readonly<Record<string, string>>;
  /** The published host-mode ports: "8080->8080/tcp". */
  ports: readonly string[];
  containerId: string;
}

/**
 * The slice of the Engine's Swarm API the Swarm deployer uses, by IDs and plain objects (like
 * Engine for containers), so the deploy logic is tested against an in-memory fake.
 */
export interface SwarmEngine {
  /** Whether this engine is a manager of an active swarm (the only place services can be made). */
  swarmManager(): Promise<boolean>;
  /** The image's ID and registry digests (name@sha256:…, once pushed), or null if the engine lacks it. */
  image(name: string): Promise<{ id: string; repoDigests: string[] } | null>;
  listServices(filters: Filters): Promise<ServiceInfo[]>;
  createService(spec: ServiceSpec): Promise<string>;
  updateService(id: string, version: number, spec: ServiceSpec): Promise<void>;
  /** One already gone is fine. */
  removeService(id: string): Promise<void>;
  listTasks(filters: Filters): Promise<TaskInfo[]>;
  listNetworks(filters: Filters): Promise<Array<{ id: string; name: string }>>;
  createNetwork(spec: Docker.NetworkCreateOptions): Promise<string>;
  removeNetwork(id: string): Promise<void>;
  listConfigs(filters: Filters): Promise<Array<{ id: string; name: string }>>;
  createConfig(spec: { Name: string; Labels: Record<string, string>; Data: string }): Promise<string>;
  removeConfig(id: string): Promise<void>;
}

/** The Swarm API on dockerode: DOCKER_HOST / the default socket when no client is given. */
export function createSwarmEngine(docker: Docker): SwarmEngine {
  const filters = (f: Filters) => ({ filters: JSON.stringify(f) });
  return {
    async swarmManager() {
      const info = (await engineCall('info', () => docker.info())) as {
        Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean };
      };
      return info.Swarm?.LocalNodeState === 'active' && info.Swarm.ControlAvailable === true;
    },
    async image(name) {
      try {
        const info = await docker.getImage(name).inspect();
        return { id: info.Id, repoDigests: info.RepoDigests ?? [] };
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return null;
        throw error;
      }
    },
    async listServices(f) {
      const list = await engineCall('list services', () => docker.listServices(filters(f)));
      return list.map((s) => ({
        id: s.ID,
        name: s.Spec?.Name ?? s.ID,
        version: s.Version?.Index ?? 0,
        spec: s.Spec as ServiceSpec,
        updateState: s.UpdateStatus?.State ?? null,
        updateMessage: s.UpdateStatus?.Message ?? '',
      }));
    },
    async createService(spec) {
      const created = (await engineCall('create service', () => docker.createService(spec))) as {
        id?: string;
        ID?: string;
      };
      return created.id ?? created.ID ?? '';
    },
    async updateService(id, version, spec) {
      await engineCall('update service', () =>
        docker.getService(id).update({ _query: { version }, _body: spec } as never),
      );
    },
    async removeService(id) {
      await tolerate([404], () => docker.getService(id).remove(), 'remove service');
    },
    async listTasks(f) {
      const list = (await engineCall('list tasks', () => docker.listTasks(filters(f)))) as RawTask[];
      return list.map((t) => ({
        id: t.ID ?? '',
        serviceId: t.ServiceID ?? '',
        slot: t.Slot ?? 0,
        desired: t.DesiredState ?? '',
        state: t.Status?.State ?? '',
        error: t.Status?.Err ?? '',
        image: t.Spec?.ContainerSpec?.Image ?? '',
        labels: t.Spec?.ContainerSpec?.Labels ?? {},
        addresses: Object.fromEntries(
          (t.NetworksAttachments ?? []).map((a) => [
            a.Network?.ID ?? '',
            (a.Addresses?.[0] ?? '').split('/')[0]!,
          ]),
        ),
        // The engine lists a host-mode port once per address family: once here.
        ports: [
          ...new Set(
            (t.Status?.PortStatus?.Ports ?? []).map(
              (p) => `${p.PublishedPort}->${p.TargetPort}/${p.Protocol ?? 'tcp'}`,
            ),
          ),
        ],
        containerId: t.Status?.ContainerStatus?.ContainerID ?? '',
      }));
    },
    async listNetworks(f) {
      const list = await engineCall('list networks', () => docker.listNetworks(filters(f)));
      return list.map((n) => ({ id: n.Id, name: n.Name }));
    },
    async createNetwork(spec) {
      return (await engineCall('create network', () => docker.createNetwork(spec))).id;
    },
    async removeNetwork(id) {
      await tolerate([404], () => docker.getNetwork(id).remove(), 'remove network');
    },
    async listConfigs(f) {
      const list = (await engineCall('list configs', () => docker.listConfigs(filters(f)))) as Array<{
        ID: string;
        Spec?: { Name?: string };
      }>;
      return list.map((c) => ({ id: c.ID, name: c.Spec?.Name ?? c.ID }));
    },
    async createConfig(spec) {
      const created = (await engineCall('create config', () => docker.createConfig(spec))) as {
        id?: string;
        ID?: string;
      };
      return created.id ?? created.ID ?? '';
    },
    async removeConfig(id) {
      await tolerate([404], () => docker.getConfig(id).remove(), 'remove config');
    },
  };
}

/** GET /tasks, the fields read here (dockerode's types lack most of them). */
interface RawTask {
  ID?: string;
  ServiceID?: string;
  Slot?: number;
  DesiredState?: string;
  Spec?: { ContainerSpec?: { Image?: string; Labels?: Record<string, string> } };
  Status?: {
    State?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string };
    PortStatus?: { Ports?: Array<{ PublishedPort?: number; TargetPort?: number; Protocol?: string }> };
  };
  NetworksAttachments?: Array<{ Network?: { ID?: string }; Addresses?: string[] }>;
}
