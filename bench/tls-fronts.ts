import { join } from 'node:path';
import { formatAddress, packageRoot, type TlsConfig } from '../config/index.js';
import { installedNginxVersion } from '../nginx/nginx-version.js';
import { renderNginx } from '../nginx/render.js';
import { freePort } from '../test/helpers/net.js';
import { startNginx } from '../test/helpers/nginx.js';
import { missing } from '../test/helpers/system-deps.js';
import { writeBenchConfig } from './bench-config.js';
import { type FrontContext, GATEHOUSE_BIN } from './fronts.js';
import { startProcess, track } from './processes.js';

// The fronts of `npm run bench -- --tls`, each on its TLS port with the same certificate: our
// proxy as `gatehouse proxy` (one process) and nginx (one worker), both from the same tls section;
// and, for reference, bare Node answering by itself (backends/tls-hello.ts): the ceiling.

export type TlsFrontId = 'gatehouse' | 'nginx' | 'node';
export const TLS_FRONT_IDS: readonly TlsFrontId[] = ['gatehouse', 'nginx', 'node'];

export interface RunningTlsFront {
  id: TlsFrontId;
  /** https://127.0.0.1:port */
  url: string;
  pid: number | null;
  stop(): Promise<void>;
}

export interface TlsFrontSpec {
  id: TlsFrontId;
  label: string;
  /** Why it cannot run here, or null. */
  unavailable(): string | null;
  start(ctx: FrontContext, tls: (port: number) => TlsConfig): Promise<RunningTlsFront>;
}

/** `gatehouse proxy --config FILE`, one process, with the tls section written into its file. */
const gatehouse: TlsFrontSpec = {
  id: 'gatehouse',
  label: 'gatehouse proxy (1 process)',
  unavailable: () => null,
  async start(ctx, tls) {
    const [port, tlsPort] = [await freePort(), await freePort()];
    const { file } = writeBenchConfig({
      dir: ctx.dir,
      name: 'gatehouse-tls',
      port,
      statusPort: await freePort(),
      servers: [`${ctx.upstream.host}:${ctx.upstream.port}`],
      extra: { tls: tlsDoc(tls(tlsPort)) },
    });
    const child = await startProcess({
      name: 'gatehouse-tls',
      command: process.execPath,
      args: [GATEHOUSE_BIN, 'proxy', '--config', file],
      logDir: ctx.dir,
      port: tlsPort,
    });
    return { id: 'gatehouse', url: `https://127.0.0.1:${tlsPort}`, pid: child.pid, stop: () => child.stop() };
  },
};

/** A resolved tls section written back as the config file's keys (ACME is not benchmarked). */
function tlsDoc(tls: TlsConfig): Record<string, unknown> {
  return {
    listen: formatAddress(tls.listen),
    certificates: tls.certificates,
    min_version: tls.minVersion,
    http2: tls.http2,
    redirect_http: tls.redirectHttp,
    hsts: `${tls.hsts}s`,
  };
}

/** Real nginx, one worker process, on the rendered config with its tls section (HTTP/2 on, no redirect). */
const nginx: TlsFrontSpec = {
  id: 'nginx',
  label: 'nginx (1 worker)',
  unavailable: () => missing('nginx'),
  async start(ctx, tls) {
    const [port, tlsPort] = [await freePort(), await freePort()];
    const { config } = writeBenchConfig({
      dir: ctx.dir,
      name: 'nginx-tls',
      port,
      statusPort: await freePort(),
      servers: [`${ctx.upstream.host}:${ctx.upstream.port}`],
    });
    const snippet = renderNginx(
      { ...config, tls: tls(tlsPort) },
      { target: 'host', nginxVersion: installedNginxVersion() },
    );
    const running = await startNginx({ snippet, port: tlsPort });
    return {
      id: 'nginx',
      url: `https://127.0.0.1:${tlsPort}`,
      pid: running.pid,
      stop: track(() => running.stop()),
    };
  },
};

/** Not a proxy: node's TLS and HTTP/2 servers answering themselves, one process, the same certificate. */
const node: TlsFrontSpec = {
  id: 'node',
  label: 'bare Node, no proxying (ceiling of one Node process)',
  unavailable: () => null,
  async start(ctx, tls) {
    const tlsPort = await freePort();
    const [pair] = tls(tlsPort).certificates;
    const child = await startProcess({
      name: 'node-tls-hello',
      command: process.execPath,
      args: [
        join(packageRoot, 'dist', 'bench', 'backends', 'tls-hello.js'),
        String(tlsPort),
        pair!.cert,
        pair!.key,
      ],
      logDir: ctx.dir,
      port: tlsPort,
    });
    return { id: 'node', url: `https://127.0.0.1:${tlsPort}`, pid: child.pid, stop: () => child.stop() };
  },
};

export const TLS_FRONTS: Record<TlsFrontId, TlsFrontSpec> = { gatehouse, nginx, node };
