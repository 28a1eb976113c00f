import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, json, request, servers, sleep, startProxy, workerHeaders } from '../helpers/proxy.js';
import { createRawBackend, type RawAnswer } from '../helpers/raw-backend.js';
import { startWorker } from '../helpers/worker-process.js';

interface UpstreamState {
  address: string;
  state: 'up' | 'down' | 'backup';
  healthy: boolean;
  requests: number;
}

async function upstreamStates(statusPort: number): Promise<UpstreamState[]> {
  const reply = await request(statusPort, { path: '/status', headers: { Accept: 'application/json' } });
  return json<{ upstreams: UpstreamState[] }>(reply).upstreams;
}

async function stateOf(statusPort: number, address: string): Promise<UpstreamState> {
  const found = (await upstreamStates(statusPort)).find((u) => u.address === address);
  assert.ok(found, `no upstream ${address} on the status page`);
  return found;
}

describe('passive health (max_fails / fail_timeout)', () => {
  test('max_fails=1: a failing upstream is skipped for fail_timeout, then tried again', async (t) => {
    const failTimeout = 3000;
    let failing = true;
    const a = await createRawBackend({ name: 'a', answer: (): RawAnswer => (failing ? 'reset' : {}) });
    t.after(() => a.close());
    const b = await createRawBackend({ name: 'b' });
    t.after(() => b.close());
    const proxy = await startProxy(t, {
      upstream: { servers: servers(a.port, b.port), max_fails: 1, fail_timeout: `${failTimeout}ms` },
    });
    // The proxy records the failure after this moment and before the answer comes back: whatever
    // is asked before `sentAt + failTimeout` falls inside the time out, however slow this machine is.
    const sentAt = performance.now();
    const first = await request(proxy.port, { path: '/0' });
    const failedBy = performance.now();
    assert.equal(first.status, 200, 'the failure was retried on b');
    assert.equal(a.requests.length, 1);
    const withinTimeOut = () => performance.now() - sentAt < failTimeout;

    let checked = 0;
    for (let i = 1; i <= 6; i++) {
      const reply = await request(proxy.port, { path: `/${i}` });
      // Answered before the time out can have ended: a was never asked.
      if (!withinTimeOut()) break;
      assert.equal(reply.text, 'b\n');
      assert.equal(a.requests.length, 1, `request ${i} was sent to a during its time out`);
      checked++;
    }
    const state = (await stateOf(proxy.statusPort, a.address)).state;
    if (withinTimeOut()) assert.equal(state, 'down');
    if (checked < 6 || !withinTimeOut())
      t.diagnostic(
        `slow machine: ${checked} of 6 requests (and the state check) fell inside the ${failTimeout} ms`,
      );

    failing = false;
    // Waited out from the latest moment the failure can have been recorded.
    await sleep(Math.max(0, failTimeout - (performance.now() - failedBy)) + 200);
    const texts: string[] = [];
    for (let i = 0; i < 4; i++) texts.push((await request(proxy.port, { path: `/after/${i}` })).text);
    assert.ok(texts.includes('a\n'), `a never came back: ${JSON.stringify(texts)}`);
    assert.equal((await stateOf(proxy.statusPort, a.address)).state, 'up');
  });

  test('max_fails=0 turns passive health off: a failing upstream stays in rotation', async (t) => {
    const a = await createRawBackend({ name: 'a', answer: 'reset' });
    t.after(() => a.close());
    const b = await createRawBackend({ name: 'b' });
    t.after(() => b.close());
    const proxy = await startProxy(t, { upstream: { servers: servers(a.port, b.port), max_fails: 0 } });
    for (let i = 0; i < 4; i++) assert.equal((await request(proxy.port, { path: `/${i}` })).status, 200);
    assert.ok(a.requests.length >= 2, `a was tried ${a.requests.length} times in 4 requests`);
  });
});

describe('active health (GET /healthz, rise / fall)', () => {
  test('a stopped worker is marked down, requests go elsewhere, and it comes back after rise', async (t) => {
    const first = await startWorker();
    t.after(() => first.stop());
    const other = await startWorker();
    t.after(() => other.stop());
    const address = `127.0.0.1:${first.port}`;
    const proxy = await startProxy(t, {
      upstream: {
        servers: servers(first.port, other.port),
        // A probe of a worker that is up may be slow on a loaded machine; a stopped one is refused at once.
        health: { enabled: true, interval: '1s', timeout: '900ms', rise: 2, fall: 2 },
      },
    });
    assert.equal((await stateOf(proxy.statusPort, address)).state, 'up');

    await first.stop();
    const down = await eventually(
      async () => (await stateOf(proxy.statusPort, address)).state === 'down',
      10_000,
    );
    assert.ok(down, 'the stopped worker was never marked down');
    assert.equal((await stateOf(proxy.statusPort, address)).healthy, false);
    await proxy.waitForLog((l) => l.upstream === address && l.msg === 'upstream unhealthy');

    const before = (await stateOf(proxy.statusPort, address)).requests;
    for (let i = 0; i < 10; i++) {
      const { worker } = await workerHeaders(proxy.port);
      assert.equal(worker.pid, other.child.pid);
    }
    assert.equal(
      (await stateOf(proxy.statusPort, address)).requests,
      before,
      'a request was sent to the down worker',
    );

    const again = await startWorker({ env: { PORT: String(first.port) } });
    t.after(() => again.stop());
    const up = await eventually(
      async () => (await stateOf(proxy.statusPort, address)).state === 'up',
      10_000,
    );
    assert.ok(up, 'the restarted worker was never marked up');
    await proxy.waitForLog((l) => l.upstream === address && l.msg === 'upstream healthy');
    const pids = new Set<number | undefined>();
    for (let i = 0; i < 6; i++) pids.add((await workerHeaders(proxy.port)).worker.pid);
    assert.ok(pids.has(again.child.pid), 'no request reached the worker that came back');
  });

  test('a worker answering /healthz with an error status is marked down', async (t) => {
    const sick = await createRawBackend({
      name: 'sick',
      answer: (req): RawAnswer => (req.target === '/healthz' ? { status: 500 } : {}),
    });
    t.after(() => sick.close());
    const healthy = await createRawBackend({ name: 'healthy' });
    t.after(() => healthy.close());
    const proxy = await startProxy(t, {
      upstream: {
        servers: servers(sick.port, healthy.port),
        health: { enabled: true, interval: '1s', timeout: '900ms', rise: 2, fall: 2 },
      },
    });
    const down = await eventually(
      async () => (await stateOf(proxy.statusPort, sick.address)).state === 'down',
      10_000,
    );
    assert.ok(down);
    assert.equal((await stateOf(proxy.statusPort, healthy.address)).state, 'up');
    const before = sick.requests.filter((r) => r.target !== '/healthz').length;
    for (let i = 0; i < 6; i++) assert.equal((await request(proxy.port, { path: '/app' })).text, 'healthy\n');
    assert.equal(sick.requests.filter((r) => r.target !== '/healthz').length, before);
  });
});
