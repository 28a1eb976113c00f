import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ProxyProcess, portsFree, request, startProxyProcess, workerHeaders } from '../helpers/proxy.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';

const PORTS = [8080, 8081, 8001, 8002];

describe('acceptance: the default config (proxy 127.0.0.1:8080, workers 8001-8002)', () => {
  test('serves the sample site; /headers shows x-real-ip 127.0.0.1 and x-forwarded-for "<client list>, 127.0.0.1"', async (t) => {
    if (!(await portsFree(PORTS))) {
      t.skip(`ports ${PORTS.join(', ')} are not all free (another test or service uses them)`);
      return;
    }
    const workers: WorkerProcess[] = [];
    let proxy: ProxyProcess;
    try {
      for (const port of ['8001', '8002']) {
        const worker = await startWorker({ env: { PORT: port } });
        workers.push(worker);
        t.after(() => worker.stop());
      }
      proxy = await startProxyProcess(t, { embeddedDefault: true });
    } catch (err) {
      // Another test may have taken a port between the check and the start: that is not a failure here.
      if (!(await portsFree(PORTS.filter((p) => !workers.some((w) => w.port === p))))) {
        t.skip(`a default port was taken while starting: ${(err as Error).message.split('\n')[0]}`);
        return;
      }
      throw err;
    }
    assert.equal(proxy.port, 8080);
    assert.equal(proxy.statusPort, 8081);

    const home = await request(8080, { path: '/' });
    assert.equal(home.status, 200);
    assert.match(home.headers['content-type'] ?? '', /text\/html/);

    const spoofed = await workerHeaders(8080, {
      'X-Real-IP': '198.51.100.9',
      'X-Forwarded-For': '203.0.113.7, 198.51.100.2',
    });
    assert.equal(spoofed.headers['x-real-ip'], '127.0.0.1');
    assert.equal(spoofed.headers['x-forwarded-for'], '203.0.113.7, 198.51.100.2, 127.0.0.1');

    const plain = await workerHeaders(8080);
    assert.equal(plain.headers['x-real-ip'], '127.0.0.1');
    assert.equal(plain.headers['x-forwarded-for'], '127.0.0.1');

    // Both workers of the default pool answer.
    const pids = new Set<number | undefined>();
    for (let i = 0; i < 4; i++) pids.add((await workerHeaders(8080)).worker.pid);
    assert.equal(pids.size, 2);
  });
});
