import { formatAddress, parseAddress } from './address.js';
import type { ConfigProblem } from './errors.js';
import { isConfigObject } from './merge.js';
import type { ServerConfig, UpstreamConfig, WorkersConfig } from './types.js';
import { parseDuration, parseSize } from './units.js';

type Raw = Record<string, unknown>;

/** Reads a key of a section (defaults merged in); a path with dots goes deeper. */
function reader(raw: unknown) {
  const get = (path: string): unknown =>
    path.split('.').reduce<unknown>((v, k) => (isConfigObject(v) ? v[k] : undefined), raw);
  return {
    get,
    ms: (path: string): number => parseDuration(get(path)) ?? 0,
    bytes: (path: string): number => parseSize(get(path)) ?? 0,
  };
}

/** A `workers` section (the top level's, or a route's over it); `at` is its key path. */
export function resolveWorkers(raw: unknown): WorkersConfig {
  const { get, ms, bytes } = reader(raw);
  return {
    count: get('count') as number,
    host: get('host') as string,
    port: get('port') as number,
    app: (get('app') as string | null) ?? null,
    diagnostics: get('diagnostics') as boolean,
    bodyLimit: bytes('body_limit'),
    gracePeriod: ms('grace_period'),
    keepaliveTimeout: ms('keepalive_timeout'),
    maxMemory: get('max_memory') as string,
    concurrency: (get('concurrency') as number | null | undefined) ?? null,
    timeout: ms('timeout'),
  };
}

/** Where the keys of one pool are written, for the problems' key paths. */
export interface PoolKeys {
  upstream: string;
  workers: string;
}

/**
 * An `upstream` section with the workers it may default to: one server per worker when it lists
 * no servers, no DNS name and no Docker stack. Problems go to `problems` with `keys`' paths.
 */
export function resolveUpstream(
  raw: unknown,
  workers: WorkersConfig,
  keys: PoolKeys,
  problems: ConfigProblem[],
): UpstreamConfig {
  const { get, ms } = reader(raw);
  const at = keys.upstream;
  const maxFails = get('max_fails') as number;
  const failTimeout = ms('fail_timeout');
  const rawServers = (get('servers') as Raw[]) ?? [];
  const resolveRaw = get('resolve') as Raw | null | undefined;
  const dockerRaw = get('docker') as Raw | null | undefined;

  let servers: ServerConfig[];
  if (rawServers.length > 0) {
    servers = rawServers.map((s, i) => {
      const path = `${at}.servers.${i}.address`;
      const parsed = parseAddress(String(s.address), false);
      if (!parsed)
        problems.push({ path, message: `expected an address "host:port", got ${JSON.stringify(s.address)}` });
      const { host, port } = parsed ?? { host: '127.0.0.1', port: 0 };
      return {
        address: formatAddress({ host, port }),
        host,
        port,
        weight: (s.weight as number | undefined) ?? 1,
        maxFails: (s.max_fails as number | undefined) ?? maxFails,
        failTimeout: s.fail_timeout === undefined ? failTimeout : (parseDuration(s.fail_timeout) ?? 0),
        backup: (s.backup as boolean | undefined) ?? false,
      };
    });
  } else if (resolveRaw || dockerRaw) {
    servers = [];
  } else {
    // The default pool: one server per pre-started worker.
    servers = Array.from({ length: workers.count }, (_, i) => {
      const port = workers.port + i;
      if (port > 65535)
        problems.push({ path: `${keys.workers}.port`, message: `worker ${i} would listen on port ${port}` });
      return {
        address: formatAddress({ host: workers.host, port }),
        host: workers.host,
        port,
        weight: 1,
        maxFails,
        failTimeout,
        backup: false,
      };
    });
  }
  if ([rawServers.length > 0, Boolean(resolveRaw), Boolean(dockerRaw)].filter(Boolean).length > 1) {
    problems.push({
      path: at,
      message: `give one of ${at}.servers, ${at}.resolve or ${at}.docker`,
    });
  }
  if (servers.length > 0 && servers.every((s) => s.backup)) {
    problems.push({ path: `${at}.servers`, message: 'at least one server must not be a backup' });
  }
  const balance = get('balance') as UpstreamConfig['balance'];
  if (servers.some((s) => s.backup) && balance !== 'round_robin' && balance !== 'least_conn') {
    problems.push({
      path: `${at}.balance`,
      message: 'backup servers work with round_robin and least_conn only (as in nginx)',
    });
  }

  const health = {
    enabled: get('health.enabled') as boolean,
    path: get('health.path') as string,
    interval: ms('health.interval'),
    timeout: ms('health.timeout'),
    rise: get('health.rise') as number,
    fall: get('health.fall') as number,
  };
  if (health.enabled && health.timeout >= health.interval) {
    problems.push({
      path: `${at}.health.timeout`,
      message: `must be shorter than ${at}.health.interval (${health.interval} ms)`,
    });
  }
  const keepaliveTimeout = ms('keepalive_timeout');
  if (workers.keepaliveTimeout <= keepaliveTimeout) {
    problems.push({
      path: `${keys.workers}.keepalive_timeout`,
      message: `must be longer than ${at}.keepalive_timeout (${keepaliveTimeout} ms), so the proxy closes an idle connection before the worker does and never sends on a socket the worker is closing`,
    });
  }

  return {
    servers,
    serversFromWorkers: rawServers.length === 0 && !resolveRaw && !dockerRaw,
    resolve: resolveRaw
      ? {
          host: resolveRaw.host as string,
          port: resolveRaw.port as number,
          interval: parseDuration(resolveRaw.interval ?? '5s') ?? 5000,
        }
      : null,
    docker: dockerRaw
      ? {
          stack: dockerRaw.stack as string,
          port: (dockerRaw.port as number | undefined) ?? 3000,
          socket: (dockerRaw.socket as string | undefined) ?? '/var/run/docker.sock',
          ...(typeof dockerRaw.route === 'string' ? { route: dockerRaw.route } : {}),
        }
      : null,
    balance,
    keepalive: get('keepalive') as number,
    keepaliveTimeout,
    maxFails,
    failTimeout,
    health,
  };
}
