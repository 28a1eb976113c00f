import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Config, loadConfig } from '../config/index.js';

export interface BenchConfigOptions {
  dir: string;
  /** File name stem inside `dir`: `<name>.json` (and `<name>-access.log`). */
  name: string;
  port: number;
  statusPort: number;
  /** "host:port" of each upstream server. */
  servers: readonly string[];
  instances?: number;
  accessLog?: boolean;
  /** Raw config keys merged on top (the CGI comparison sets workers.app). */
  extra?: Record<string, unknown>;
}

export interface BenchConfig {
  file: string;
  config: Config;
}

/**
 * The config a benchmarked front runs from: the shipped defaults (balancing, active health, keep-alive
 * 64, retries, timeouts) with the bench's addresses, and the access log to a file — the whole
 * contract on, as the targets require. Read back through the real loader, as a user's file would be.
 */
export function writeBenchConfig(options: BenchConfigOptions): BenchConfig {
  const { dir, name, port, statusPort, servers, instances = 1, accessLog = true, extra = {} } = options;
  const raw = {
    listen: `127.0.0.1:${port}`,
    instances,
    status: { listen: `127.0.0.1:${statusPort}` },
    upstream: { servers: servers.map((address) => ({ address })) },
    access_log: { format: 'combined', path: accessLog ? join(dir, `${name}-access.log`) : 'off' },
    ...extra,
  };
  const file = join(dir, `${name}.json`);
  // JSON is YAML: the loader reads it as any config file.
  writeFileSync(file, JSON.stringify(raw, null, 2));
  return { file, config: loadConfig({ file, env: {} }) };
}
