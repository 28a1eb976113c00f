import Docker from 'dockerode';

/** The part of one entry of GET /containers/json that discovery reads. */
export interface ContainerSummary {
  Id: string;
  Names?: readonly string[];
  Labels?: Readonly<Record<string, string>>;
  /** created | running | paused | restarting | exited | dead */
  State?: string;
  /** "Up 3 minutes (healthy)": the only place engines before API 1.52 report health in a listing. */
  Status?: string;
  /** Newer engines report health as a field too. */
  Health?: { Status?: string };
  NetworkSettings?: { Networks?: Readonly<Record<string, { IPAddress?: string } | undefined>> };
}

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
  const remote = /^(tcp|http|https):\/\/([^:/]+)(?::(\d+))?\/?$/.exec(socket);
  if (!remote) return new Docker({ socketPath: socket });
  const protocol = remote[1] === 'https' ? 'https' : 'http';
  return new Docker({
    protocol,
    host: remote[2],
    port: Number(remote[3] ?? (protocol === 'https' ? 2376 : 2375)),
  });
}
