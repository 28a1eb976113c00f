import { join } from 'node:path';
import { packageRoot } from '../config/index.js';
import { freePort } from '../test/helpers/net.js';
import type { FrontContext } from './fronts.js';
import { GATEHOUSE_BIN } from './fronts.js';
import { type Managed, startProcess } from './processes.js';

export type BackendKind = 'hello' | 'site';

export interface RunningBackend {
  kind: BackendKind;
  process: Managed;
  upstream: FrontContext['upstream'];
}

/** `hello`: the minimal node:http server; `site`: a real sample-site worker (`gatehouse worker`). */
export async function startBackend(
  kind: BackendKind,
  dir: string,
  appModule?: string,
): Promise<RunningBackend> {
  const port = await freePort();
  const args =
    kind === 'hello'
      ? [join(packageRoot, 'dist', 'bench', 'backends', 'hello.js'), String(port)]
      : [GATEHOUSE_BIN, 'worker', ...(appModule ? ['--app', appModule] : [])];
  const child = await startProcess({
    name: `${kind}-${port}`,
    command: process.execPath,
    args,
    logDir: dir,
    env: { PORT: String(port), HOST: '127.0.0.1' },
    port,
  });
  return { kind, process: child, upstream: { host: '127.0.0.1', port, pid: child.pid } };
}
