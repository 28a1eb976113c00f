import { join } from 'node:path';
import { packageRoot } from '../config/index.js';
import { renderNginx } from '../nginx/render.js';
import { freePort } from '../test/helpers/net.js';
import { startNginx } from '../test/helpers/nginx.js';
import { missing } from '../test/helpers/system-deps.js';
import { writeBenchConfig } from './bench-config.js';
import { type Managed, startProcess, track } from './processes.js';

export const GATEHOUSE_BIN = join(packageRoot, 'bin', 'gatehouse.js');
const DIST_BENCH = join(packageRoot, 'dist', 'bench');

/** What a front stands in front of: one backend address (the minimal server or a sample worker). */
export interface FrontContext {
  upstream: { host: string; port: number; pid: number };
  /** The run's scratch directory: configs, logs, access logs. */
  dir: string;
  /** Config keys over the bench's own (--slow-clients turns buffering off with them); gatehouse and nginx only. */
  extra?: Record<string, unknown>;
}

export interface RunningFront {
  id: FrontId;
  label: string;
  /** Base URL, no trailing slash. */
  url: string;
  /** The process whose tree is measured (CPU, RSS); null for `direct` (nothing in between). */
  pid: number | null;
  stop(): Promise<void>;
}

export interface FrontSpec {
  id: FrontId;
  label: string;
  /** Why it cannot run here (nginx not installed), or null. */
  unavailable(): string | null;
  start(ctx: FrontContext): Promise<RunningFront>;
}

export const FRONT_IDS = [
  'direct',
  'gatehouse',
  'gatehouse-log-off',
  'gatehouse-x2',
  'nginx',
  'http-proxy',
  'http-proxy-agent',
  'tp-native',
  'tp-fetch',
  'tp-stream',
  'tp-dispatch',
  'tp-pipe',
] as const;
export type FrontId = (typeof FRONT_IDS)[number];

function fromManaged(id: FrontId, label: string, url: string, child: Managed): RunningFront {
  return { id, label, url, pid: child.pid, stop: () => child.stop() };
}

/** Our proxy as users run it: `gatehouse proxy --config FILE`. */
function gatehouse(id: FrontId, label: string, opts: { instances?: number; accessLog?: boolean }): FrontSpec {
  return {
    id,
    label,
    unavailable: () => null,
    async start(ctx) {
      const port = await freePort();
      const { file } = writeBenchConfig({
        dir: ctx.dir,
        name: id,
        port,
        statusPort: await freePort(),
        servers: [`${ctx.upstream.host}:${ctx.upstream.port}`],
        ...opts,
        extra: ctx.extra,
      });
      const child = await startProcess({
        name: id,
        command: process.execPath,
        args: [GATEHOUSE_BIN, 'proxy', '--config', file],
        logDir: ctx.dir,
        port,
      });
      return fromManaged(id, label, `http://127.0.0.1:${port}`, child);
    },
  };
}

/** A small script from dist/bench taking `PORT UPSTREAM_PORT`. */
function script(id: FrontId, label: string, path: string): FrontSpec {
  return {
    id,
    label,
    unavailable: () => null,
    async start(ctx) {
      const port = await freePort();
      const child = await startProcess({
        name: id,
        command: process.execPath,
        args: [join(DIST_BENCH, path), String(port), String(ctx.upstream.port)],
        logDir: ctx.dir,
        port,
      });
      return fromManaged(id, label, `http://127.0.0.1:${port}`, child);
    },
  };
}

const direct: FrontSpec = {
  id: 'direct',
  label: 'direct (no front)',
  unavailable: () => null,
  async start(ctx) {
    const { host, port } = ctx.upstream;
    return {
      id: 'direct',
      label: 'direct (no front)',
      url: `http://${host}:${port}`,
      pid: null,
      stop: async () => {},
    };
  },
};

/** Real nginx, one worker process, on the config rendered from the same file our proxy reads. */
const nginx: FrontSpec = {
  id: 'nginx',
  label: 'nginx (1 worker)',
  unavailable: () => missing('nginx'),
  async start(ctx) {
    const port = await freePort();
    const { config } = writeBenchConfig({
      dir: ctx.dir,
      name: 'nginx',
      port,
      statusPort: await freePort(),
      servers: [`${ctx.upstream.host}:${ctx.upstream.port}`],
      extra: ctx.extra,
    });
    const running = await startNginx({ snippet: renderNginx(config, { target: 'host' }), port });
    const stop = track(() => running.stop());
    return {
      id: 'nginx',
      label: 'nginx (1 worker)',
      url: `http://127.0.0.1:${port}`,
      pid: running.pid,
      stop,
    };
  },
};

export const FRONTS: Record<FrontId, FrontSpec> = {
  direct,
  gatehouse: gatehouse('gatehouse', 'gatehouse proxy', {}),
  'gatehouse-log-off': gatehouse('gatehouse-log-off', 'gatehouse, access log off', { accessLog: false }),
  'gatehouse-x2': gatehouse('gatehouse-x2', 'gatehouse, instances: 2', { instances: 2 }),
  nginx,
  'http-proxy': script('http-proxy', 'http-proxy 1.18 (README)', 'baselines/http-proxy-readme.js'),
  'http-proxy-agent': script(
    'http-proxy-agent',
    'http-proxy 1.18 + keep-alive agent',
    'baselines/http-proxy-agent.js',
  ),
  'tp-native': script('tp-native', '(a) http-proxy-3 native + agent', 'transports/native.js'),
  'tp-fetch': script('tp-fetch', '(b) http-proxy-3 fetch + undici Agent', 'transports/fetch.js'),
  'tp-stream': script('tp-stream', '(c) undici Pool.stream()', 'transports/undici-stream.js'),
  'tp-dispatch': script('tp-dispatch', "(c') undici Pool.dispatch()", 'transports/undici-dispatch.js'),
  'tp-pipe': script('tp-pipe', '(d) node:http + agent, .pipe()', 'transports/node-pipe.js'),
};
