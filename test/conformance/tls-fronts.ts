import type { TlsCertificateConfig, TlsConfig } from '../../config/index.js';
import { installedNginxVersion } from '../../nginx/nginx-version.js';
import { renderNginx } from '../../nginx/render.js';
import { createLogger } from '../../process/logger.js';
import { createProxyServer } from '../../proxy/index.js';
import { freePort, startNginx } from '../helpers/nginx.js';
import type { SystemDepName } from '../helpers/system-deps.js';
import { conformanceConfig, type FrontName, withBufferFolder } from './fronts.js';

// A front with a TLS listener beside its plain one, for the TLS cases (tls-cases.ts). nginx runs
// the rendered config (render-tls.ts); our proxy runs createProxyServer with the same TlsConfig.

export interface StartedTlsFront {
  /** The plain listener (redirects to https). */
  plainPort: number;
  tlsPort: number;
  stop(): Promise<void>;
}

export interface TlsFront {
  name: FrontName;
  needs: SystemDepName[];
  start(opts: {
    servers: string[];
    /** The first is the default certificate. */
    certificates: TlsCertificateConfig[];
    overrides?: Record<string, unknown>;
    /** tls.hsts in seconds (0, the default: none). */
    hsts?: number;
  }): Promise<StartedTlsFront>;
}

/** The tls section the cases run with: HTTP/2 on, plain HTTP redirected, no HSTS unless asked, no ACME. */
export function conformanceTls(port: number, certificates: TlsCertificateConfig[], hsts = 0): TlsConfig {
  return {
    listen: { host: '127.0.0.1', port },
    certificates,
    minVersion: 'TLSv1.2',
    http2: true,
    redirectHttp: true,
    hsts,
    acme: null,
  };
}

export const nginxTlsFront: TlsFront = {
  name: 'nginx',
  needs: ['nginx'],
  async start({ servers, certificates, overrides, hsts }) {
    const [plainPort, tlsPort, statusPort] = [await freePort(), await freePort(), await freePort()];
    // nginx's workers (nobody, when tests run as root) make their temp folders inside this one.
    return withBufferFolder(async (tempPath) => {
      const config = conformanceConfig({ port: plainPort, statusPort }, servers, overrides, tempPath);
      const snippet = renderNginx(
        { ...config, tls: conformanceTls(tlsPort, certificates, hsts) },
        { target: 'host', nginxVersion: installedNginxVersion() },
      );
      const nginx = await startNginx({ snippet, port: tlsPort, keepTempPaths: true });
      return { plainPort, tlsPort, stop: nginx.stop };
    }, 0o755);
  },
};

export const gatehouseTlsFront: TlsFront = {
  name: 'gatehouse',
  needs: [],
  start: ({ servers, certificates, overrides, hsts }) =>
    withBufferFolder(async (tempPath) => {
      const config = conformanceConfig({ port: 0, statusPort: 0 }, servers, overrides, tempPath);
      const proxy = createProxyServer(
        { ...config, tls: conformanceTls(0, certificates, hsts) },
        { logger: createLogger({ name: 'proxy', level: 'silent' }) },
      );
      await proxy.listen();
      return { plainPort: proxy.address.port, tlsPort: proxy.tlsAddress!.port, stop: () => proxy.shutdown() };
    }),
};

/** Every front, each with a TLS listener: the TLS cases run against both. */
export const tlsFronts: TlsFront[] = [gatehouseTlsFront, nginxTlsFront];
