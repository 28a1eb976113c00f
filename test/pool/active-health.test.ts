import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { createWorker } from '../../app/worker.js';
import { createLogger } from '../../process/logger.js';
import { createActiveHealthCheck } from '../../proxy/pool/active-health.js';
import type { Pool } from '../../proxy/pool/pool.js';
import type { Upstream } from '../../proxy/pool/upstream.js';
import { closedPort, makePool, startHttpServer, upstreamAt } from '../helpers/pool.js';

type Change = [string, boolean];

describe('active health checks (integration, 127.0.0.1)', () => {
  test('fall failed probes take an upstream out, rise good ones bring it back; 2xx/3xx pass', async (t) => {
    let badStatus = 500;
    const good = await startHttpServer((_req, res) => res.writeHead(200).end('ok'));
    const redirect = await startHttpServer((_req, res) => res.writeHead(302, { location: '/' }).end());
    const bad = await startHttpServer((_req, res) => res.writeHead(badStatus).end());
    const refused = await closedPort();
    t.after(() => Promise.all([good.close(), redirect.close(), bad.close()]));

    const pool = makePool([good.address, redirect.address, bad.address, `127.0.0.1:${refused}`]);
    const changes: Change[] = [];
    const check = createActiveHealthCheck({
      getPool: () => pool,
      path: '/healthz',
      interval: 60_000,
      // Bounds a probe of a server that answers at once; a loaded machine may still take a while.
      timeout: 10_000,
      rise: 2,
      fall: 3,
      onChange: (upstream, healthy) => changes.push([upstream.address, healthy]),
    });
    t.after(() => check.stop());
    const healthy = (): boolean[] => pool.upstreams.map((u) => u.healthy);

    await check.probeNow();
    await check.probeNow();
    assert.deepEqual(healthy(), [true, true, true, true], 'two failures are below fall=3');
    await check.probeNow();
    assert.deepEqual(healthy(), [true, true, false, false]);
    assert.deepEqual(
      [...changes].sort(),
      [
        [bad.address, false],
        [`127.0.0.1:${refused}`, false],
      ].sort(),
    );

    badStatus = 204;
    await check.probeNow();
    assert.equal(upstreamAt(pool, bad.address).healthy, false, 'one pass is below rise=2');
    await check.probeNow();
    assert.equal(upstreamAt(pool, bad.address).healthy, true);
    assert.deepEqual(changes.at(-1), [bad.address, true]);
    assert.equal(bad.hits(), 5);
  });

  test('a pass in between restarts the count of failures', async (t) => {
    const statuses = [500, 500, 200, 500, 500];
    const flaky = await startHttpServer((_req, res) => res.writeHead(statuses.shift() ?? 500).end());
    t.after(() => flaky.close());
    const pool = makePool([flaky.address]);
    const check = createActiveHealthCheck({
      getPool: () => pool,
      path: '/',
      interval: 60_000,
      // Bounds a probe of a server that answers at once; a loaded machine may still take a while.
      timeout: 10_000,
      rise: 1,
      fall: 3,
    });
    t.after(() => check.stop());
    for (let i = 0; i < 5; i++) await check.probeNow();
    assert.equal(pool.upstreams[0]!.healthy, true);
    await check.probeNow();
    assert.equal(pool.upstreams[0]!.healthy, false);
  });

  test('probes are GET path on their own connection, closed after each probe', async (t) => {
    const seen: IncomingMessage[] = [];
    const server = await startHttpServer((req, res) => {
      seen.push(req);
      res.writeHead(200).end();
    });
    t.after(() => server.close());
    const pool = makePool([server.address]);
    const check = createActiveHealthCheck({
      getPool: () => pool,
      path: '/healthz?probe=1',
      interval: 60_000,
      // Bounds a probe of a server that answers at once; a loaded machine may still take a while.
      timeout: 10_000,
      rise: 1,
      fall: 1,
    });
    t.after(() => check.stop());
    await check.probeNow();
    await check.probeNow();
    assert.equal(seen.length, 2);
    assert.deepEqual(
      seen.map((req) => [req.method, req.url, req.headers.connection]),
      [
        ['GET', '/healthz?probe=1', 'close'],
        ['GET', '/healthz?probe=1', 'close'],
      ],
    );
    assert.notEqual(seen[0]!.socket, seen[1]!.socket);
  });

  test('a probe without an answer within the timeout is a failure', async (t) => {
    const silent = await startHttpServer(() => {});
    t.after(() => silent.close());
    const pool = makePool([silent.address]);
    const check = createActiveHealthCheck({
      getPool: () => pool,
      path: '/',
      interval: 60_000,
      timeout: 50,
      rise: 1,
      fall: 1,
    });
    t.after(() => check.stop());
    await check.probeNow();
    assert.equal(pool.upstreams[0]!.healthy, false);
  });

  test('start() probes every interval the pool current at that moment', { timeout: 30_000 }, async (t) => {
    const first = await startHttpServer((_req, res) => res.writeHead(200).end());
    const second = await startHttpServer((_req, res) => res.writeHead(503).end());
    t.after(() => Promise.all([first.close(), second.close()]));
    let pool: Pool = makePool([first.address]);
    const wentDown = new Promise<Upstream>((resolve) => {
      const check = createActiveHealthCheck({
        getPool: () => pool,
        path: '/',
        interval: 10,
        timeout: 10_000,
        rise: 1,
        fall: 2,
        onChange: (upstream, healthy) => !healthy && resolve(upstream),
      });
      t.after(() => check.stop());
      check.start();
    });
    pool = makePool([first.address, second.address]);
    // The check's timers are unref'd; hold the loop while waiting for it.
    const keepAlive = setInterval(() => {}, 1_000);
    const down = await wentDown.finally(() => clearInterval(keepAlive));
    assert.equal(down.address, second.address);
    assert.ok(first.hits() >= 2);
  });

  test('stop() clears the timer and aborts probes in flight without judging them', async (t) => {
    let received: () => void = () => {};
    const arrived = new Promise<void>((resolve) => {
      received = resolve;
    });
    const socketClosed: Promise<void>[] = [];
    const hanging = await startHttpServer((req) => {
      socketClosed.push(new Promise((resolve) => req.socket.on('close', () => resolve())));
      received();
    });
    t.after(() => hanging.close());
    const pool = makePool([hanging.address]);
    const changes: Change[] = [];
    // Every round asks for the pool first: counted, a round after stop() cannot go unseen.
    let rounds = 0;
    const check = createActiveHealthCheck({
      getPool: () => {
        rounds++;
        return pool;
      },
      path: '/',
      interval: 5,
      timeout: 30_000,
      rise: 1,
      fall: 1,
      onChange: (upstream, healthy) => changes.push([upstream.address, healthy]),
    });
    check.start();
    await arrived;
    check.stop();
    const roundsAtStop = rounds;
    await Promise.all(socketClosed);
    // A timer left behind (5 ms) would fire before this one (30 ms): timers run in order of expiry.
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(rounds, roundsAtStop, 'a probe round ran after stop()');
    assert.equal(hanging.hits(), 1);
    assert.deepEqual(changes, []);
    assert.equal(pool.upstreams[0]!.healthy, true);
  });

  test("a worker's health answer names it on the upstream (host name, pid, instance, port, probes); a plain server's clears it", async (t) => {
    const logger = createLogger({ name: 'worker', level: 'silent' });
    const app = { fetch: () => new Response('ok') };
    const replicas = ['3f2a1b9c04de', '9e8d7c6b5a41'].map((hostname) =>
      createWorker({ app, logger, hostname, instance: 0, healthPath: '/healthz' }),
    );
    const ports = await Promise.all(replicas.map(async (worker) => (await worker.listen()).port));
    const plain = await startHttpServer((_req, res) => res.writeHead(200).end('ok'));
    t.after(() => Promise.all([...replicas.map((worker) => worker.shutdown()), plain.close()]));
    const [a, b] = ports.map((port) => `127.0.0.1:${port}`);
    const pool = makePool([a!, b!, plain.address]);
    const check = createActiveHealthCheck({
      getPool: () => pool,
      path: '/healthz',
      interval: 60_000,
      timeout: 2_000,
      rise: 1,
      fall: 1,
    });
    t.after(() => check.stop());
    await check.probeNow();
    await check.probeNow();
    assert.deepEqual(upstreamAt(pool, a!).worker, {
      hostname: '3f2a1b9c04de',
      pid: process.pid,
      instance: 0,
      port: ports[0],
      healthProbes: 2,
    });
    assert.equal(upstreamAt(pool, b!).worker?.hostname, '9e8d7c6b5a41');
    assert.equal(upstreamAt(pool, plain.address).worker, null);

    // Someone else now answers on a worker's address: what the old worker said is dropped.
    upstreamAt(pool, plain.address).worker = { ...upstreamAt(pool, a!).worker! };
    await check.probeNow();
    assert.equal(upstreamAt(pool, plain.address).worker, null);
  });
});
