import { readdirSync } from 'node:fs';
import {
  type Cleanup,
  type ConfigDoc,
  type ProxyProcess,
  request,
  servers,
  startProxyProcess,
} from '../helpers/proxy.js';
import { createRecordingBackend, type RecordingBackend } from './recording-backend.js';

/**
 * What the hostile inputs are aimed at: a real proxy process in front of two recording backends,
 * with short client timeouts (so an input left open is cut in seconds) and a short upstream
 * keep-alive (so idle upstream connections close and the fd count can come back to its baseline).
 */
export interface FuzzTarget {
  proxy: ProxyProcess;
  backends: RecordingBackend[];
  /** The proxy's open file descriptors now (/proc/PID/fd). */
  fds(): number;
  /** Throws unless a valid GET through the proxy is answered 200. */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** Client timeouts of the fuzz target: short, so inputs left open are cut within a few seconds. */
export const FUZZ_TIMEOUTS = { client_header: '1s', client_body: '1s', client_keepalive: '1s' };

export async function startFuzzTarget(
  cleanup: Cleanup | null,
  overrides: ConfigDoc = {},
): Promise<FuzzTarget> {
  const backends = [await createRecordingBackend(), await createRecordingBackend()];
  const closeBackends = () => Promise.all(backends.map((b) => b.close()));
  cleanup?.after(closeBackends);
  let proxy: ProxyProcess;
  try {
    proxy = await startProxyProcess(cleanup, {
      config: {
        upstream: { servers: servers(...backends.map((b) => b.port)), keepalive_timeout: '1s' },
        timeouts: FUZZ_TIMEOUTS,
        ...overrides,
      },
    });
  } catch (err) {
    await closeBackends();
    throw err;
  }
  const { pid } = proxy;
  return {
    proxy,
    backends,
    fds: () => readdirSync(`/proc/${pid}/fd`).length,
    async check() {
      if (proxy.child.exitCode !== null || proxy.child.signalCode !== null) {
        throw new Error(`the proxy exited\n${proxy.describe()}`);
      }
      const reply = await request(proxy.port, { path: '/fuzz-check', timeout: 20_000 });
      if (reply.status !== 200)
        throw new Error(`GET /fuzz-check answered ${reply.status}: ${reply.text.slice(0, 200)}`);
    },
    async close() {
      await proxy.stop();
      await closeBackends();
    },
  };
}
