import type { TlsConfig } from '../config/index.js';
import { installedNginxVersion } from '../nginx/nginx-version.js';
import { renderNginx } from '../nginx/render.js';
import { freePort } from '../test/helpers/net.js';
import { startNginx } from '../test/helpers/nginx.js';
import { missing } from '../test/helpers/system-deps.js';
import { writeBenchConfig } from './bench-config.js';
import type { FrontContext } from './fronts.js';
import { track } from './processes.js';

// The fronts of `npm run bench -- --tls`, each on its TLS port with the same certificate. Our
// proxy's column fills in once its TLS listener (issue 16, items 1-2) is merged: its start() runs
// `gatehouse proxy` with the same tls section.

export type TlsFrontId = 'gatehouse' | 'nginx';
export const TLS_FRONT_IDS: readonly TlsFrontId[] = ['gatehouse', 'nginx'];

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

const gatehouse: TlsFrontSpec = {
  id: 'gatehouse',
  label: 'gatehouse proxy',
  unavailable: () => 'our proxy has no TLS listener on this branch yet (issue 16, items 1-2)',
  start: () => Promise.reject(new Error('no TLS listener yet')),
};

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

export const TLS_FRONTS: Record<TlsFrontId, TlsFrontSpec> = { gatehouse, nginx };
