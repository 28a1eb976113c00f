import { formatAddress, type ServerConfig } from '../../../config/index.js';
import { type ContainerSummary, containerHealth } from '../../../stack/container.js';
import { NETWORK_LABEL, PORT_LABEL, ROLE_LABEL, ROUTE_LABEL, STACK_LABEL } from '../../../stack/labels.js';

export interface SnapshotOptions {
  stack: string;
  /** The route whose workers these are (upstream.docker.route); null or absent: the top-level pool's. */
  route?: string;
  /** The port workers listen on inside their containers (upstream.docker.port). */
  port: number;
  maxFails: number;
  failTimeout: number;
  /** Containers that were sent a stop signal: still running (draining), no longer in the pool. */
  leaving?: ReadonlySet<string>;
}

/** A container of the stack that is not in the pool, and why. */
export interface SkippedContainer {
  id: string;
  name: string;
  reason: string;
  /** True when the container is misconfigured (worth a warning), false when it is just not ready. */
  broken: boolean;
}

export interface PoolClassification {
  servers: ServerConfig[];
  skipped: SkippedContainer[];
}

/**
 * The pool a container listing describes, Traefik-style: a pure function of the listing, so a
 * re-list after any event rebuilds the whole pool instead of patching it. Only the stack's
 * running workers that are healthy (or have no healthcheck) count; one server per container, at
 * its address on the stack network, sorted by address so the same containers give the same pool.
 */
export function buildPoolSnapshot(
  containers: readonly ContainerSummary[],
  options: SnapshotOptions,
): ServerConfig[] {
  return classifyContainers(containers, options).servers;
}

/** buildPoolSnapshot, plus the containers left out and why (for the log). */
export function classifyContainers(
  containers: readonly ContainerSummary[],
  options: SnapshotOptions,
): PoolClassification {
  const servers: ServerConfig[] = [];
  const skipped: SkippedContainer[] = [];
  const owners = new Map<string, string>();
  for (const container of containers) {
    const labels = container.Labels ?? {};
    if (labels[STACK_LABEL] !== options.stack || labels[ROLE_LABEL] !== 'worker') continue;
    // Another pool's workers: each route's pool and the top-level one list the same stack.
    if ((labels[ROUTE_LABEL] ?? null) !== (options.route ?? null)) continue;
    const name = containerName(container);
    const skip = (reason: string, broken: boolean) =>
      skipped.push({ id: container.Id, name, reason, broken });

    if (container.State !== 'running') {
      skip(`not running (${container.State ?? 'unknown state'})`, false);
      continue;
    }
    if (options.leaving?.has(container.Id)) {
      skip('stopping', false);
      continue;
    }
    const health = containerHealth(container);
    if (health === 'starting' || health === 'unhealthy') {
      skip(health === 'starting' ? 'health check starting' : 'unhealthy', false);
      continue;
    }
    const host = containerAddress(container);
    if ('problem' in host) {
      skip(host.problem, true);
      continue;
    }
    const port = labels[PORT_LABEL] === undefined ? options.port : parsePort(labels[PORT_LABEL]);
    if (port === null) {
      skip(`label ${PORT_LABEL}=${JSON.stringify(labels[PORT_LABEL])} is not a port number`, true);
      continue;
    }
    const address = formatAddress({ host: host.ip, port });
    const owner = owners.get(address);
    if (owner !== undefined) {
      skip(`address ${address} is already taken by ${owner}`, true);
      continue;
    }
    owners.set(address, name);
    servers.push({
      address,
      host: host.ip,
      port,
      weight: 1,
      maxFails: options.maxFails,
      failTimeout: options.failTimeout,
      backup: false,
    });
  }
  servers.sort((a, b) => compareAddresses(a.host, b.host) || a.port - b.port);
  return { servers, skipped };
}

export function containerName(container: ContainerSummary): string {
  return (container.Names?.[0] ?? container.Id.slice(0, 12)).replace(/^\//, '');
}

/**
 * The IPv4 address to reach a container at: on the network its gatehouse.network label names, or
 * on its only network. A container on several networks without the label is ambiguous.
 */
function containerAddress(container: ContainerSummary): { ip: string } | { problem: string } {
  const networks = container.NetworkSettings?.Networks ?? {};
  const wanted = container.Labels?.[NETWORK_LABEL];
  let name: string;
  if (wanted !== undefined) {
    if (!(wanted in networks))
      return { problem: `not attached to its network ${wanted} (label ${NETWORK_LABEL})` };
    name = wanted;
  } else {
    const names = Object.keys(networks);
    if (names.length === 0) return { problem: 'attached to no network' };
    if (names.length > 1) {
      return {
        problem: `attached to ${names.join(', ')}; label ${NETWORK_LABEL} must say which one the proxy uses`,
      };
    }
    name = names[0]!;
  }
  const ip = networks[name]?.IPAddress ?? '';
  if (ip === '') return { problem: `no IP address on network ${name}` };
  return { ip };
}

function parsePort(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,5}$/.test(value)) return null;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : null;
}

/** Numeric order for dotted quads (10.0.0.9 before 10.0.0.10), text order otherwise. */
function compareAddresses(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  if (pa.length === 4 && pb.length === 4 && [...pa, ...pb].every(Number.isInteger)) {
    for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return pa[i]! - pb[i]!;
    return 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}
