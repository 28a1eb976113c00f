import { readFileSync } from 'node:fs';
import { Document, isMap, isScalar, isSeq, parse, parseDocument, type YAMLMap } from 'yaml';
import { type Config, defaultConfigFile, mergeConfigDocs, parseConfig } from '../../config/index.js';

/** What init writes into the config files it renders. */
export interface InitValues {
  /** The app module, relative to the project folder. */
  app: string;
  /** Workers on this host (gatehouse.yaml), replicas in compose. */
  workers: number;
}

/** The container side of docker-compose.yml and gatehouse.compose.yaml, as config/compose.yaml has it. */
export const CONTAINER_PORTS = { proxy: 8080, status: 8081, worker: 3000 } as const;
export const CONTAINER_CONFIG = 'gatehouse.compose.yaml';

/**
 * The image's HEALTHCHECK (Dockerfile) and docker-compose.yml's: a worker's /healthz, or the URL a
 * proxy container sets. The Node image init's compose file runs has no HEALTHCHECK of its own.
 */
const HEALTH_PROBE =
  "fetch(process.env.GATEHOUSE_HEALTH_URL||'http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))";

let parsedDefaults: Document | null = null;

/** config/default.yaml with its comments, read once. */
function defaults(): Document {
  parsedDefaults ??= parseDocument(readFileSync(defaultConfigFile, 'utf8'));
  return parsedDefaults;
}

/** A rendered config file as every process loads it (over the defaults); throws ConfigError. */
export function loadRendered(text: string, file: string): Config {
  return parseConfig(mergeConfigDocs(defaults().toJS(), parse(text)), file);
}

/** A default value of config/default.yaml, by dotted key path. */
export function defaultValue(path: string): unknown {
  return defaults().getIn(path.split('.'));
}

/**
 * A config file of `values` where each key carries the comment config/default.yaml gives it (or
 * the one in `comments`, by dotted path), top-level sections apart, `header` on top. The maps at
 * the `flow` paths are written on one line (`{ host: app, port: 3000 }`).
 */
function commentedConfig(
  header: string,
  values: Record<string, unknown>,
  { comments = {}, flow = [] }: { comments?: Record<string, string>; flow?: string[] } = {},
): string {
  const base = defaults();
  const doc = new Document(values);
  const annotate = (path: string[], node: unknown): void => {
    const key = path.join('.');
    if (isMap(node) && !flow.includes(key)) {
      for (const pair of node.items)
        annotate([...path, String(isScalar(pair.key) ? pair.key.value : pair.key)], pair.value);
      return;
    }
    if (isMap(node) || isSeq(node)) node.flow = true;
    const fallback = base.getIn(path, true);
    const comment = comments[key] ?? (isScalar(fallback) || isMap(fallback) ? fallback.comment : undefined);
    if (comment && (isScalar(node) || isMap(node) || isSeq(node))) node.comment = ` ${comment.trim()}`;
  };
  const top = doc.contents as YAMLMap;
  for (const [i, pair] of top.items.entries()) {
    if (i > 0 && (isMap(pair.value) || isSeq(pair.value)) && isScalar(pair.key)) pair.key.spaceBefore = true;
  }
  annotate([], top);
  doc.commentBefore = header
    .split('\n')
    .map((line) => ` ${line}`)
    .join('\n');
  return doc.toString({ lineWidth: 0 });
}

/** gatehouse.yaml: this host's stack, everything not given left to the defaults. */
export function renderHostConfig(values: InitValues, schema: string | null): string {
  const header = [
    ...(schema ? [`yaml-language-server: $schema=${schema}`] : []),
    "gatehouse.yaml, written by `gatehouse init`: the proxy (nginx's part) in front of a pool of",
    "workers (gunicorn's part), each serving the app below. A key left out keeps its default; all",
    'are listed, commented, in node_modules/gatehouse/config/default.yaml. Durations take ms/s/m/h',
    '("60s"), sizes k/m/g ("1m"), as nginx writes them. workers.app is a path from this folder.',
    '  npx gatehouse up --config gatehouse.yaml     the stack on this host, under a pm2 of its own',
    '  npx gatehouse check --config gatehouse.yaml  check this file (like nginx -t)',
  ].join('\n');
  return commentedConfig(
    header,
    {
      listen: defaultValue('listen'),
      status: { listen: defaultValue('status.listen') },
      workers: { count: values.workers, port: defaultValue('workers.port'), app: values.app },
      routes: [],
    },
    {
      comments: {
        'workers.count': 'pre-started workers (gunicorn -w): one per core of this machine',
        routes: OWN_ROUTES,
      },
    },
  );
}

/**
 * The embedded default's routes serve the sample site's /static/ from its folder: your app gets
 * every path instead (a static folder of its own is one route away).
 */
const OWN_ROUTES =
  'every path to the workers; files from disk at the front: [{ name: app }, { path: /static/, static: { root: public } }]';

/** gatehouse.compose.yaml: the config inside the containers of docker-compose.yml. */
export function renderContainerConfig(values: InitValues): string {
  const header = [
    `${CONTAINER_CONFIG}, written by \`gatehouse init --compose\`: gatehouse's config inside the`,
    'containers of docker-compose.yml ($GATEHOUSE_CONFIG there). The app of gatehouse.yaml, every',
    "listener on the container's interfaces (the ports docker-compose.yml publishes decide who",
    'reaches them), and the pool found by re-resolving the `app` service, so that',
    '`docker compose up --scale app=N` is followed without a restart.',
  ].join('\n');
  const { proxy, status, worker } = CONTAINER_PORTS;
  return commentedConfig(
    header,
    {
      listen: `0.0.0.0:${proxy}`,
      // Loopback: the healthcheck runs inside the container; off loopback status.token is required.
      status: { listen: `127.0.0.1:${status}` },
      workers: { host: '0.0.0.0', port: worker, app: values.app },
      upstream: { resolve: { host: 'app', port: worker, interval: '2s' } },
      routes: [],
    },
    {
      comments: {
        routes: OWN_ROUTES,
        'status.listen':
          "/status and /metrics, for the container's healthcheck; 0.0.0.0 needs status.token (GATEHOUSE_STATUS_TOKEN)",
        'workers.host': "every interface of the worker's container",
        'workers.port': 'every worker container listens on the same port',
        'upstream.resolve': 'every replica of the compose service `app`: its name re-resolved every 2 s',
      },
      flow: ['upstream.resolve'],
    },
  );
}

/**
 * docker-compose.yml: the workers (`app`, one container each) and the proxy, on Node's own image
 * with the project folder mounted read-only; valid for docker compose v2 and docker-compose 1.29
 * (no `version` key: both read it as the Compose Specification).
 */
export function renderComposeFile(values: InitValues & { port: number }): string {
  const { proxy, status } = CONTAINER_PORTS;
  const probe = ['CMD', 'node', '-e', HEALTH_PROBE].map((part) => `    - ${yamlScalar(part)}`).join('\n');
  const usage = [
    ['docker compose up -d', `the proxy on http://127.0.0.1:${values.port}`],
    ['docker compose up -d --scale app=8', '8 workers; the proxy re-resolves `app` every 2 s'],
    ['docker compose down', ''],
  ]
    .map(([command, what]) => `#   ${command!.padEnd(36)}${what}`.trimEnd())
    .join('\n');
  return `# docker-compose.yml, written by \`gatehouse init --compose\`: the app under gatehouse in containers,
# ${values.workers} worker replicas (\`app\`) behind gatehouse's proxy. Works with docker compose v2 and
# docker-compose 1.29 (same commands, dashed).
#
${usage}
#
# The containers run Node's own image on this folder, mounted read-only, as uid 1000 (the image's
# node user; the folder must be readable to it): install the dependencies first (npm install:
# gatehouse among them), on a Linux host of the same architecture when a dependency has a native
# add-on. For production, build an image of the app and gatehouse and put it in place of image,
# user and volumes. Every container reads gatehouse's config from ${CONTAINER_CONFIG}.
#
# Environment: NODE_VERSION (24), GATEHOUSE_BIND (127.0.0.1; 0.0.0.0 to serve other hosts),
# GATEHOUSE_PORT (${values.port}). Docker's init (tini) forwards SIGTERM to Node; stop_grace_period
# outlasts the drain (workers.grace_period and timeouts.shutdown, 10 s each).

x-gatehouse: &gatehouse
  image: node:\${NODE_VERSION:-24}-bookworm-slim
  init: true
  restart: unless-stopped
  stop_grace_period: 15s
  user: "1000:1000"
  working_dir: /app
  volumes:
    - .:/app:ro
  entrypoint: [node, node_modules/gatehouse/bin/gatehouse.js]
  environment:
    NODE_ENV: production
    GATEHOUSE_CONFIG: /app/${CONTAINER_CONFIG}

x-healthcheck: &healthcheck
  test:
${probe}
  interval: 2s
  timeout: 5s
  retries: 5
  start_period: 15s

services:
  app:
    <<: *gatehouse
    command: [worker]
    deploy:
      replicas: ${values.workers}
    healthcheck: *healthcheck

  proxy:
    <<: *gatehouse
    command: [proxy]
    environment:
      NODE_ENV: production
      GATEHOUSE_CONFIG: /app/${CONTAINER_CONFIG}
      # The health probe asks a worker's /healthz by default; a proxy answers on its status listener.
      GATEHOUSE_HEALTH_URL: http://127.0.0.1:${status}/healthz
    ports:
      - "\${GATEHOUSE_BIND:-127.0.0.1}:\${GATEHOUSE_PORT:-${values.port}}:${proxy}"
      # The status listener stays on the container's loopback, unpublished: off loopback it needs
      # status.token (GATEHOUSE_STATUS_TOKEN).
    healthcheck: *healthcheck
    depends_on:
      app:
        condition: service_healthy
`;
}

/** A YAML scalar as the yaml package writes it (quoted when it must be). */
function yamlScalar(value: string): string {
  return new Document(value).toString({ lineWidth: 0 }).trimEnd();
}
