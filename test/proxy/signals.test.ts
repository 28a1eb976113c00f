import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { json, request, servers, sleep, startProxyProcess, workerHeaders } from '../helpers/proxy.js';
import { startWorker } from '../helpers/worker-process.js';

interface Answer {
  status: number;
  pid: number | undefined;
}

/** GET /headers on a keep-alive agent; never rejects (a failure is status 0). */
function getHeaders(port: number, agent: Agent): Promise<Answer> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/headers', agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('error', () => resolve({ status: 0, pid: undefined }));
      res.on('end', () => {
        let pid: number | undefined;
        try {
          pid = (JSON.parse(text) as { worker: { pid: number } }).worker.pid;
        } catch {}
        resolve({ status: res.statusCode ?? 0, pid });
      });
    });
    req.setTimeout(10_000, () => req.destroy());
    req.on('error', () => resolve({ status: 0, pid: undefined }));
    req.end();
  });
}

describe('SIGHUP reload (nginx -s reload)', () => {
  test('a reload under traffic drops no request, and the new pool serves afterwards', async (t) => {
    const oldWorker = await startWorker();
    t.after(() => oldWorker.stop());
    const newWorker = await startWorker();
    t.after(() => newWorker.stop());
    const proxy = await startProxyProcess(t, { config: { upstream: { servers: servers(oldWorker.port) } } });

    const clients = 20;
    const duration = 3000;
    const perClientCap = 2000;
    const started = Date.now();
    const answers: Array<Answer & { at: number }> = [];
    const agents = Array.from({ length: clients }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
    t.after(() => {
      for (const agent of agents) agent.destroy();
    });
    const load = agents.map(async (agent) => {
      for (let i = 0; i < perClientCap && Date.now() - started < duration; i++) {
        const answer = await getHeaders(proxy.port, agent);
        answers.push({ ...answer, at: Date.now() });
      }
    });

    await sleep(1000);
    proxy.writeConfig({ upstream: { servers: servers(newWorker.port) } });
    const from = proxy.logs.length;
    proxy.signal('SIGHUP');
    await proxy.waitForLog((l) => l.msg === 'configuration reloaded', 10_000, from);
    const reloadedAt = Date.now();
    await Promise.all(load);

    const failed = answers.filter((a) => a.status !== 200);
    assert.ok(answers.length > clients, `only ${answers.length} requests were made`);
    assert.equal(failed.length, 0, `${failed.length} of ${answers.length} requests failed`);
    assert.ok(
      answers.some((a) => a.pid === oldWorker.child.pid),
      'the old pool never served',
    );
    assert.ok(
      answers.some((a) => a.at > reloadedAt && a.pid === newWorker.child.pid),
      'the new pool never served during the load',
    );
    for (let i = 0; i < 10; i++) {
      const { worker } = await workerHeaders(proxy.port);
      assert.equal(worker.pid, newWorker.child.pid, 'a request after the reload went to the old pool');
    }
    assert.deepEqual(proxy.crashes(), []);
  });

  test('a bad config on SIGHUP is logged with its problems and the running config is kept', async (t) => {
    const worker = await startWorker();
    t.after(() => worker.stop());
    const proxy = await startProxyProcess(t, { config: { upstream: { servers: servers(worker.port) } } });
    proxy.writeConfig('upstream: { balance: fastest }\ntimeouts: { read: soon }\n');
    const from = proxy.logs.length;
    proxy.signal('SIGHUP');
    const refused = await proxy.waitForLog((l) => /reload refused/.test(l.msg ?? ''), 10_000, from);
    const problems = refused.problems as Array<{ path: string }>;
    assert.deepEqual(problems.map((p) => p.path).sort(), ['timeouts.read', 'upstream.balance']);
    for (let i = 0; i < 5; i++) {
      const { worker: answered } = await workerHeaders(proxy.port);
      assert.equal(answered.pid, worker.child.pid);
    }
    assert.equal(proxy.child.exitCode, null, 'the proxy exited on a bad reload');
  });

  test('a reload changes settings for new requests (read timeout shortened → 504)', async (t) => {
    const worker = await startWorker();
    t.after(() => worker.stop());
    const proxy = await startProxyProcess(t, { config: { upstream: { servers: servers(worker.port) } } });
    assert.equal((await request(proxy.port, { path: '/delay/2500' })).status, 200);
    proxy.writeConfig({ upstream: { servers: servers(worker.port) }, timeouts: { read: '300ms' } });
    const from = proxy.logs.length;
    proxy.signal('SIGHUP');
    await proxy.waitForLog((l) => l.msg === 'configuration reloaded', 10_000, from);
    assert.equal((await request(proxy.port, { path: '/delay/2500' })).status, 504);
  });
});

describe('SIGTERM drain', () => {
  test('an in-flight request completes with 200, new connections are refused, exit code 0', async (t) => {
    const worker = await startWorker();
    t.after(() => worker.stop());
    const proxy = await startProxyProcess(t, { config: { upstream: { servers: servers(worker.port) } } });
    const inFlight = request(proxy.port, { path: '/delay/1000' });
    await sleep(300);
    const from = proxy.logs.length;
    proxy.signal('SIGTERM');
    await proxy.waitForLog((l) => l.msg === 'draining', 5000, from);

    const refused = await new Promise<string>((resolve) => {
      const socket = connect(proxy.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    assert.equal(refused, 'ECONNREFUSED');

    const reply = await inFlight;
    assert.equal(reply.status, 200);
    assert.deepEqual(json(reply), { delay: 1000 });
    const { code, signal } = await proxy.exited;
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.deepEqual(proxy.crashes(), []);
  });

  test('with nothing in flight, SIGTERM exits 0 promptly (no wait for the grace period)', async (t) => {
    const worker = await startWorker();
    t.after(() => worker.stop());
    const proxy = await startProxyProcess(t, {
      config: { upstream: { servers: servers(worker.port) }, timeouts: { shutdown: '30s' } },
    });
    assert.equal((await request(proxy.port, { path: '/healthz' })).status, 200);
    proxy.signal('SIGTERM');
    // Generous bound: far under the 30 s grace period, which must not be waited out when idle.
    const result = await Promise.race([proxy.exited, sleep(10_000).then(() => null)]);
    assert.ok(result, 'the idle proxy did not exit within 10 s');
    assert.equal(result.code, 0);
  });
});
