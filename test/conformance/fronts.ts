import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, type ConfigDoc, loadConfig, mergeConfigDocs } from '../../config/index.js';
import { renderNginx } from '../../nginx/render.js';
import { createLogger } from '../../process/logger.js';
import { createProxyServer } from '../../proxy/index.js';
import { freePort, startNginx } from '../helpers/nginx.js';
import type { SystemDepName } from '../helpers/system-deps.js';

export type FrontName = 'gatehouse' | 'nginx';
export const FRONT_NAMES: readonly FrontName[] = ['gatehouse', 'nginx'];

export interface StartedFront {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface Front {
  name: FrontName;
  /** The programs this front runs, which the machine must have. */
  needs: SystemDepName[];
  start(opts: {
    servers: string[] /* host:port */;
    overrides?: Record<string, unknown> /* raw config keys */;
  }): Promise<StartedFront>;
}

/**
 * The config both fronts run from: the default, the front's listen addresses and the case's servers,
 * then the case's overrides — read through the real loader, as a user's file would be. Buffering is
 * the default (on both ways); its temp files go to `tempPath`, a folder of the run's own.
 */
export function conformanceConfig(
  listen: { port: number; statusPort: number },
  servers: string[],
  overrides: ConfigDoc = {},
  tempPath?: string,
): Config {
  const base: ConfigDoc = {
    listen: `127.0.0.1:${listen.port}`,
    ...(tempPath ? { buffering: { temp_path: tempPath } } : {}),
    status: { listen: `127.0.0.1:${listen.statusPort}` },
    upstream: {
      servers: servers.map((address) => ({ address })),
      // nginx open source has no active health checks: both fronts judge servers by requests only.
      health: { enabled: false },
    },
    timeouts: { shutdown: '1s' },
    access_log: { path: 'off' },
    log_level: 'fatal',
  };
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-conformance-'));
  try {
    const file = join(dir, 'config.yaml');
    // JSON is YAML.
    writeFileSync(file, JSON.stringify(mergeConfigDocs(base, overrides)));
    return loadConfig({ file, env: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Starts a front with a temp folder of its own for buffer files (buffering.temp_path), removed once
 * the front has stopped or failed to start.
 */
export async function withBufferFolder<T extends { stop(): Promise<void> }>(
  start: (tempPath: string) => Promise<T>,
  mode?: number,
): Promise<T> {
  const path = mkdtempSync(join(tmpdir(), 'gatehouse-conformance-buffers-'));
  const remove = () => rmSync(path, { recursive: true, force: true });
  if (mode !== undefined) chmodSync(path, mode);
  try {
    const started = await start(path);
    return {
      ...started,
      stop: async () => {
        await started.stop();
        remove();
      },
    };
  } catch (err) {
    remove();
    throw err;
  }
}

export const nginxFront: Front = {
  name: 'nginx',
  needs: ['nginx'],
  async start({ servers, overrides }) {
    const port = await freePort();
    const statusPort = await freePort();
    // nginx makes its temp folders inside the folder, owned by its worker user (nobody when the tests
    // run as root), which must be able to enter it.
    return withBufferFolder(async (tempPath) => {
      const config = conformanceConfig({ port, statusPort }, servers, overrides, tempPath);
      const snippet = renderNginx(config, { target: 'host' });
      const nginx = await startNginx({ snippet, port, keepTempPaths: true });
      return { url: `http://127.0.0.1:${port}`, port, stop: nginx.stop };
    }, 0o755);
  },
};

export const gatehouseFront: Front = {
  name: 'gatehouse',
  needs: [],
  start: ({ servers, overrides }) =>
    withBufferFolder(async (tempPath) => {
      const config = conformanceConfig({ port: 0, statusPort: 0 }, servers, overrides, tempPath);
      const proxy = createProxyServer(config, { logger: createLogger({ name: 'proxy', level: 'silent' }) });
      await proxy.listen();
      const { port } = proxy.address;
      return { url: `http://127.0.0.1:${port}`, port, stop: () => proxy.shutdown() };
    }),
};

export const fronts: Record<FrontName, Front> = { gatehouse: gatehouseFront, nginx: nginxFront };

/** CONFORMANCE_FRONTS=nginx (comma-separated) narrows a run; default both. */
export function selectedFronts(spec: string | undefined): Front[] {
  if (!spec) return FRONT_NAMES.map((name) => fronts[name]);
  return spec.split(',').map((name) => {
    const front = fronts[name.trim() as FrontName];
    if (!front)
      throw new Error(`CONFORMANCE_FRONTS: unknown front "${name}" (expected ${FRONT_NAMES.join(', ')})`);
    return front;
  });
}
