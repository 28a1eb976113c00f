import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import { parseDocument } from 'yaml';
import { ecosystemPort, PORT_BASE_VAR, workerInstance } from '../stack/worker-port.js';
import { formatAddress, parseAddress, parseCidr } from './address.js';
import { resolveCompression } from './compression.js';
import { ConfigError, type ConfigProblem } from './errors.js';
import { resolveLimits } from './limits.js';
import { isConfigObject, mergeConfigDocs } from './merge.js';
import { defaultConfigFile, projectRoot } from './paths.js';
import { resolveRoutes } from './routes.js';
import { configSchema } from './schema.js';
import { resolveTls } from './tls.js';
import type { Address, Config } from './types.js';
import { parseDuration, parseSize } from './units.js';
import { resolveUpstream, resolveWorkers } from './upstream.js';
import { configValidator } from './validator.js';

export interface LoadOptions {
  /** Config file; else $GATEHOUSE_CONFIG; else the embedded default. */
  file?: string | null;
  env?: NodeJS.ProcessEnv;
}

type Raw = Record<string, unknown>;

const validate = configValidator();

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
  const path = file === null ? null : resolve(file);
  const own = path === null ? null : readYaml(path);
  try {
    return parseConfig(withToken(path === null ? defaults : mergeConfigDocs(defaults, own)), path);
  } catch (error) {
    if (!(error instanceof ConfigError) || (isConfigObject(own) && 'routes' in own)) throw error;
    throw new ConfigError(error.file, error.problems.map(fromDefaultRoutes));
  }
}

/**
 * A file without `routes` keeps the embedded default's (the sample site and its /static/ folder):
 * a problem in one of those says where the route came from, and how to replace it.
 */
export function fromDefaultRoutes(problem: ConfigProblem): ConfigProblem {
  if (!problem.path.startsWith('routes.')) return problem;
  return {
    ...problem,
    message: `${problem.message} (a route of the embedded default, for the sample site: give routes of your own, or routes: [])`,
  };
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

  const workers = resolveWorkers(get('workers'));
  const upstream = resolveUpstream(
    get('upstream'),
    workers,
    { upstream: 'upstream', workers: 'workers' },
    problems,
  );
  const routes = resolveRoutes(raw, { workers, upstream }, problems);

  const trustedProxies = (get('trusted_proxies') as string[]).map((cidr, i) => {
    if (!parseCidr(cidr))
      problems.push({
        path: `trusted_proxies.${i}`,
        message: `expected a CIDR such as "10.0.0.0/8" or an IP address, got ${JSON.stringify(cidr)}`,
      });
    return cidr;
  });

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
    upstream,
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
    routes,
    compression: resolveCompression(get('compression')),
    limits: resolveLimits(get('limits'), 'limits', problems),
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
