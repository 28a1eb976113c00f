import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import { ecosystemPort, PORT_BASE_VAR, workerInstance } from '../stack/worker-port.js';
import { formatAddress, parseAddress, parseCidr } from './address.js';
import { ConfigError, type ConfigProblem } from './errors.js';
import { isConfigObject, mergeConfigDocs } from './merge.js';
import { defaultConfigFile, projectRoot } from './paths.js';
import { configSchema } from './schema.js';
import { resolveTls } from './tls.js';
import type { Address, Config, ServerConfig } from './types.js';
import { parseDuration, parseSize } from './units.js';

export interface LoadOptions {
  /** Config file; else $GATEHOUSE_CONFIG; else the embedded default. */
  file?: string | null;
  env?: NodeJS.ProcessEnv;
}

type Raw = Record<string, unknown>;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
const validate = ajv.compile(configSchema);

/** Reads, defaults, validates and freezes the config. Throws ConfigError listing every problem. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.GATEHOUSE_CONFIG ?? null;
  const defaults = readYaml(defaultConfigFile);
  // A secret belongs in the environment (a Kubernetes Secret, a compose .env), not in a config
  // file that is committed or baked into an image: GATEHOUSE_STATUS_TOKEN lies over the file.
  const token = env[STATUS_TOKEN_VAR];
  // Only over a mapping: a file that is something else must still be refused as it is.
  const withToken = (doc: unknown): unknown =>
    token && isConfigObject(doc) ? mergeConfigDocs(doc, { status: { token } }) : doc;
  if (file === null) return parseConfig(withToken(defaults), null);
  const path = resolve(file);
  return parseConfig(withToken(mergeConfigDocs(defaults, readYaml(path))), path);
}

/** The environment variable that sets status.token (over the file's value). */
export const STATUS_TOKEN_VAR = 'GATEHOUSE_STATUS_TOKEN';

/** Whether a listen host only ever accepts connections from this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const plain = host.toLowerCase().replace(/^::ffff:/, '');
  if (plain === 'localhost' || plain === '::1') return true;
  return isIPv4(plain) && plain.startsWith('127.');
}

/** Validates an already-parsed document (defaults merged in) and resolves it. */
export function parseConfig(raw: unknown, source: string | null): Config {
  const label = source ?? 'default config';
  const valid = validate(raw);
  const problems = valid ? [] : schemaProblems(validate.errors ?? []);
  // The semantic checks run even after a schema failure, so one pass lists every problem;
  // a value of the wrong type may make them throw, and then the schema has said enough.
  const semantic: ConfigProblem[] = [];
  let config: Config | null = null;
  try {
    config = resolveConfig(raw as Raw, source, semantic);
  } catch {}
  const seen = new Set(problems.map((p) => p.path));
  problems.push(...semantic.filter((p) => !seen.has(p.path)));
  if (problems.length > 0 || !config) throw new ConfigError(label, problems);
  return deepFreeze(config);
}

/**
 * Where a worker listens and which instance it is: the only per-process environment a worker reads.
 * Under the pm2 ecosystem the port is GATEHOUSE_WORKER_PORT_BASE + NODE_APP_INSTANCE (see
 * stack/worker-port.ts for why not increment_var), whatever PORT the user's shell passed to pm2;
 * else PORT (a worker run by hand, a container); else workers.port + the instance.
 */
export function workerEnv(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): Address & { instance: number } {
  const instance = workerInstance(env);
  const fromEcosystem = ecosystemPort(env);
  const [name, port] =
    fromEcosystem !== null
      ? [PORT_BASE_VAR, fromEcosystem]
      : env.PORT !== undefined
        ? ['PORT', Number(env.PORT)]
        : ['', config.workers.port + instance];
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('environment', [
      {
        path: name || 'workers.port',
        message:
          name === PORT_BASE_VAR && Number.isInteger(port)
            ? `${env[name]} + NODE_APP_INSTANCE ${instance} is ${port}, not a port number`
            : `expected a port number, got "${name ? env[name] : port}"`,
      },
    ]);
  }
  return { host: env.HOST ?? config.workers.host, port, instance };
}

/** Whether pm2 started this process (then pm2, not node:cluster, runs the instances). */
export function managedByPm2(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.pm_id !== undefined;
}

function readYaml(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [
      { path: '', message: `cannot read the file (${(err as NodeJS.ErrnoException).code})` },
    ]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      path,
      doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}` })),
    );
  }
  const value = doc.toJS() as unknown;
  return value === null || value === undefined ? {} : value;
}

function schemaProblems(errors: readonly ErrorObject[]): ConfigProblem[] {
  const byPath = new Map<string, ConfigProblem>();
  for (const error of errors) {
    let path = error.instancePath.slice(1).replaceAll('/', '.');
    let message: string;
    const def = /\$defs\/(\w+)\//.exec(error.schemaPath)?.[1];
    const described = def
      ? (configSchema.$defs as Record<string, { description?: string }>)[def]?.description
      : undefined;
    if (error.keyword === 'additionalProperties') {
      path = path ? `${path}.${error.params.additionalProperty}` : String(error.params.additionalProperty);
      message = 'unknown key';
    } else if (error.keyword === 'required') {
      path = path ? `${path}.${error.params.missingProperty}` : String(error.params.missingProperty);
      message = 'is required';
    } else if (described && error.keyword !== 'additionalProperties') {
      message = `expected ${described}, got ${JSON.stringify(error.data)}`;
    } else if (error.keyword === 'enum') {
      message = `expected one of ${(error.params.allowedValues as unknown[]).join(', ')}, got ${JSON.stringify(error.data)}`;
    } else {
      message = `${error.message ?? 'is invalid'}, got ${JSON.stringify(error.data)}`;
    }
    // One message per key: the first (most specific) wins, unions report once.
    if (!byPath.has(path)) byPath.set(path, { path, message });
  }
  return [...byPath.values()];
}

function resolveConfig(raw: Raw, source: string | null, problems: ConfigProblem[]): Config {
  const get = (path: string): unknown =>
    path.split('.').reduce<unknown>((v, k) => (isConfigObject(v) ? v[k] : undefined), raw);
  const ms = (path: string): number => parseDuration(get(path)) ?? 0;
  const bytes = (path: string): number => parseSize(get(path)) ?? 0;
  const addr = (path: string, value = get(path), allowZero = true): Address => {
    const parsed = parseAddress(String(value), allowZero);
    if (!parsed) {
      problems.push({ path, message: `expected an address "host:port", got ${JSON.stringify(value)}` });
      return { host: '127.0.0.1', port: 0 };
    }
    return parsed;
  };

  const maxFails = get('upstream.max_fails') as number;
  const failTimeout = ms('upstream.fail_timeout');
  const rawServers = (get('upstream.servers') as Raw[]) ?? [];
  const resolveRaw = get('upstream.resolve') as Raw | null | undefined;
  const dockerRaw = get('upstream.docker') as Raw | null | undefined;
  const workers = {
    count: get('workers.count') as number,
    host: get('workers.host') as string,
    port: get('workers.port') as number,
    app: (get('workers.app') as string | null) ?? null,
    diagnostics: get('workers.diagnostics') as boolean,
    bodyLimit: bytes('workers.body_limit'),
    gracePeriod: ms('workers.grace_period'),
    keepaliveTimeout: ms('workers.keepalive_timeout'),
    maxMemory: get('workers.max_memory') as string,
    concurrency: (get('workers.concurrency') as number | null | undefined) ?? null,
    timeout: ms('workers.timeout'),
  };

  let servers: ServerConfig[];
  if (rawServers.length > 0) {
    servers = rawServers.map((s, i) => {
      const { host, port } = addr(`upstream.servers.${i}.address`, s.address, false);
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
        problems.push({ path: 'workers.port', message: `worker ${i} would listen on port ${port}` });
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
      path: 'upstream',
      message: 'give one of upstream.servers, upstream.resolve or upstream.docker',
    });
  }
  if (servers.length > 0 && servers.every((s) => s.backup)) {
    problems.push({ path: 'upstream.servers', message: 'at least one server must not be a backup' });
  }
  if (
    servers.some((s) => s.backup) &&
    get('upstream.balance') !== 'round_robin' &&
    get('upstream.balance') !== 'least_conn'
  ) {
    problems.push({
      path: 'upstream.balance',
      message: 'backup servers work with round_robin and least_conn only (as in nginx)',
    });
  }

  const trustedProxies = (get('trusted_proxies') as string[]).map((cidr, i) => {
    if (!parseCidr(cidr))
      problems.push({
        path: `trusted_proxies.${i}`,
        message: `expected a CIDR such as "10.0.0.0/8" or an IP address, got ${JSON.stringify(cidr)}`,
      });
    return cidr;
  });

  const health = {
    enabled: get('upstream.health.enabled') as boolean,
    path: get('upstream.health.path') as string,
    interval: ms('upstream.health.interval'),
    timeout: ms('upstream.health.timeout'),
    rise: get('upstream.health.rise') as number,
    fall: get('upstream.health.fall') as number,
  };
  if (health.enabled && health.timeout >= health.interval) {
    problems.push({
      path: 'upstream.health.timeout',
      message: `must be shorter than upstream.health.interval (${health.interval} ms)`,
    });
  }
  const upstreamKeepaliveTimeout = ms('upstream.keepalive_timeout');
  if (workers.keepaliveTimeout <= upstreamKeepaliveTimeout) {
    problems.push({
      path: 'workers.keepalive_timeout',
      message: `must be longer than upstream.keepalive_timeout (${upstreamKeepaliveTimeout} ms), so the proxy closes an idle connection before the worker does and never sends on a socket the worker is closing`,
    });
  }

  const listen = addr('listen');
  const statusListen = addr('status.listen');
  if (listen.port !== 0 && listen.port === statusListen.port && listen.host === statusListen.host) {
    problems.push({ path: 'status.listen', message: 'must differ from listen' });
  }
  const statusToken = (get('status.token') as string | null | undefined) ?? null;
  // /metrics and /status name every upstream and its health: off loopback, anyone who can reach
  // the port would read them (and the dev-reload paths would let them act), so a token is required.
  if (statusToken === null && !isLoopbackHost(statusListen.host)) {
    problems.push({
      path: 'status.token',
      message: `must be set (or ${STATUS_TOKEN_VAR}) when status.listen (${formatAddress(statusListen)}) is not a loopback address`,
    });
  }

  // Certificate paths are read from the config file's folder (the project's for the default).
  const tls = resolveTls(
    get('tls'),
    source ? dirname(source) : projectRoot(),
    { listen, status: statusListen },
    problems,
  );

  return {
    source,
    listen,
    instances: get('instances') as number,
    status: { listen: statusListen, token: statusToken },
    workers,
    upstream: {
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
          }
        : null,
      balance: get('upstream.balance') as Config['upstream']['balance'],
      keepalive: get('upstream.keepalive') as number,
      keepaliveTimeout: upstreamKeepaliveTimeout,
      maxFails,
      failTimeout,
      health,
    },
    timeouts: {
      connect: ms('timeouts.connect'),
      read: ms('timeouts.read'),
      send: ms('timeouts.send'),
      clientHeader: ms('timeouts.client_header'),
      clientBody: ms('timeouts.client_body'),
      clientKeepalive: ms('timeouts.client_keepalive'),
      websocketIdle: ms('timeouts.websocket_idle'),
      shutdown: ms('timeouts.shutdown'),
    },
    buffering: {
      request: get('buffering.request') as boolean,
      response: get('buffering.response') as boolean,
      memory: bytes('buffering.memory'),
      tempPath: resolve((get('buffering.temp_path') as string | null) ?? join(tmpdir(), 'gatehouse-buffers')),
      maxTempFileSize: bytes('buffering.max_temp_file_size'),
      maxDisk: bytes('buffering.max_disk'),
    },
    clientMaxBodySize: bytes('client_max_body_size'),
    clientMaxHeaderSize: bytes('client_max_header_size'),
    trustedProxies,
    retries: {
      nextUpstream: get('retries.next_upstream') as Config['retries']['nextUpstream'],
      tries: get('retries.tries') as number,
    },
    accessLog: {
      format: get('access_log.format') as 'combined' | 'json',
      path: get('access_log.path') as string,
    },
    logLevel: get('log_level') as Config['logLevel'],
    tls,
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
