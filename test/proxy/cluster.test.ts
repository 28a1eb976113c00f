import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chunk, LAST_CHUNK } from '../helpers/buffering.js';
import { head, json, rawExchange, request, servers, startProxyProcess } from '../helpers/proxy.js';
import { createRawBackend } from '../helpers/raw-backend.js';
import { startWorker } from '../helpers/worker-process.js';

interface StatusJson {
  proxy: { pid: number; requests: number };
}

describe('instances: 2 (node:cluster)', () => {
  test('two proxy processes share the listener and both serve requests', async (t) => {
    const worker = await startWorker();
    t.after(() => worker.stop());
    const proxy = await startProxyProcess(t, {
      config: { instances: 2, upstream: { servers: servers(worker.port) } },
      listeners: 2,
    });
    const listening = proxy.logs.filter((l) => l.msg === 'listening');
    const pids = new Set(listening.map((l) => l.pid as number));
    assert.equal(pids.size, 2, 'two proxy processes logged "listening"');
    assert.ok(!pids.has(proxy.pid), 'the primary itself does not serve');
    assert.equal(new Set(listening.map((l) => l.port)).size, 1, 'both listen on the same port');

    // Every request on a new connection: the cluster primary hands connections out in turn.
    for (let i = 0; i < 20; i++) assert.equal((await request(proxy.port, { path: '/healthz' })).status, 200);

    // Each process has its own status listener (same port); ask until both have answered.
    const served = new Map<number, number>();
    for (let i = 0; i < 20 && served.size < 2; i++) {
      const status = json<StatusJson>(
        await request(proxy.statusPort, { path: '/status', headers: { Accept: 'application/json' } }),
      );
      served.set(status.proxy.pid, status.proxy.requests);
    }
    assert.deepEqual(new Set(served.keys()), pids, 'the status answers came from the two proxy processes');
    for (const [pid, requests] of served) assert.ok(requests > 0, `proxy process ${pid} served no request`);

    const { code } = await proxy.stop();
    assert.equal(code, 0, 'SIGTERM to the primary drains both processes and exits 0');
  });

  test('a proxy process that dies is replaced, and the proxy keeps serving', async (t) => {
    const worker = await startWorker();
    t.after(() => worker.stop());
    const proxy = await startProxyProcess(t, {
      config: { instances: 2, upstream: { servers: servers(worker.port) } },
      listeners: 2,
    });
    const victim = proxy.logs.find((l) => l.msg === 'listening')!.pid as number;
    const from = proxy.logs.length;
    process.kill(victim, 'SIGKILL');
    await proxy.waitForLog((l) => l.msg === 'listening' && l.pid !== victim, 15_000, from);
    for (let i = 0; i < 10; i++) assert.equal((await request(proxy.port, { path: '/healthz' })).status, 200);
  });

  // Issue 14's report: with instances: 2 a raw client writing a 2 MiB chunked body (limit 1 MiB,
  // Connection: close) got no response at all in 2 of 4 runs (it still fails so with
  // buffering.request false). Connections go to the two processes in turn: 6 runs reach both.
  test('a chunked body over client_max_body_size gets a 413 the client reads, from either process, and the worker gets no byte', async (t) => {
    const worker = await createRawBackend();
    t.after(() => worker.close());
    const proxy = await startProxyProcess(t, {
      config: { instances: 2, upstream: { servers: servers(worker.port) }, client_max_body_size: '1m' },
      listeners: 2,
    });
    const piece = chunk(Buffer.alloc(64 * 1024, 'z'));
    for (let run = 1; run <= 6; run++) {
      const reply = await rawExchange(
        proxy.port,
        [
          head('POST /upload HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Connection: close'),
          ...Array.from({ length: 32 }, () => piece),
          LAST_CHUNK,
        ],
        { untilResponse: true, wait: 15_000 },
      );
      assert.equal(reply.status, 413, `run ${run}: ${reply.text.slice(0, 200) || '(no response)'}`);
    }
    assert.equal(worker.connections, 0, 'the worker was contacted');
  });
});
