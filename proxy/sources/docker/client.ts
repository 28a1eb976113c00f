import { createRequire } from 'node:module';
import type DockerModule from 'dockerode';
import type { ContainerSummary } from '../../../stack/container.js';

export type { ContainerSummary };

/** The part of one entry of GET /containers/json that discovery reads. */

/** One message of GET /events (container events only are asked for). */
export interface DockerEvent {
  Type?: string;
  /** start, die, stop, kill, destroy, "health_status: healthy", ... */
  Action?: string;
  Actor?: { ID?: string; Attributes?: Readonly<Record<string, string>> };
}

/**
 * The narrow slice of the Docker Engine API that discovery uses: a dockerode instance satisfies
 * it, and unit tests pass a fake. Filters are the engine's JSON filter strings.
 */
export interface DockerClient {
  listContainers(options: { all?: boolean; filters: string }): Promise<readonly ContainerSummary[]>;
  /** A stream of newline-delimited JSON events that stays open until the connection ends. */
  getEvents(options: { filters: string }): Promise<NodeJS.ReadableStream>;
}

/** A client for the engine at `socket`: a unix socket path, or tcp://host:port / http(s)://host:port. */
export function createDockerClient(socket: string): DockerClient {
  // Loaded here, not at import: dockerode (with ssh2 and its crypto) costs every proxy process
  // half a second of start-up on a busy machine, and only Docker discovery needs it.
  const Docker = createRequire(import.meta.url)('dockerode') as typeof DockerModule;
  const remote = /^(tcp|http|https):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(socket);
  if (!remote) return new Docker({ socketPath: socket });
  const protocol = remote[1] === 'https' ? 'https' : 'http';
  return new Docker({
    protocol,
    host: remote[2],
    port: Number(remote[3] ?? (protocol === 'https' ? 2376 : 2375)),
  });
}
