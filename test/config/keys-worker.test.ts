import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { freePort } from '../helpers/net.js';
import { freePortRange } from '../helpers/pm2.js';
import { head } from '../helpers/proxy.js';
import { startWorker } from '../helpers/worker-process.js';
import { getAt, refused, startFromConfig } from './walk-helpers.js';

/**
 * The config walk, worker side: the keys under `workers:` (and log_level) that no other test shows
 * a running worker process obeying. test/config/keys-walk.test.ts lists every key and its test.
 */

const fixtures = join(packageRoot, 'dist', 'test', 'fixtures', 'apps');

describe('a worker process obeys its config', { timeout: 60_000 }, () => {
  test('workers.host and workers.port: without PORT and HOST a worker listens on host:port, the next instance on port+1', async (t) => {
    const base = await freePortRange(2);
    const workers = { host: '127.0.0.2', port: base };
    // As pm2 starts them: the instance number offsets the port.
    await startFromConfig(t, 'worker', { workers });
    await startFromConfig(t, 'worker', { workers }, { NODE_APP_INSTANCE: '1' });
    for (const port of [base, base + 1]) {
      assert.deepEqual(await getAt('127.0.0.2', port, '/healthz'), { status: 200, text: 'ok' });
      assert.equal(await refused('127.0.0.1', port), true, `127.0.0.1:${port} accepted a connection`);
    }
  });

  test('workers.app: the module the config names is served, without --app', async (t) => {
    const worker = await startWorker({ config: { workers: { app: join(fixtures, 'node-listener.js') } } });
    t.after(() => worker.stop());
    const reply = await getAt('127.0.0.1', worker.port, '/from-config');
    assert.equal(reply.status, 200);
    assert.deepEqual(
      { ...(JSON.parse(reply.text) as Record<string, unknown>), requestId: null },
      { listener: true, method: 'GET', url: '/from-config', requestId: null },
    );
  });

  test('workers.keepalive_timeout: the worker closes a keep-alive connection left idle for it', async (t) => {
    const worker = await startWorker({
      // The loader wants it longer than the proxy's upstream keepalive_timeout.
      config: { workers: { keepalive_timeout: '1s' }, upstream: { keepalive_timeout: '500ms' } },
    });
    t.after(() => worker.stop());
    const socket = connect(worker.port, '127.0.0.1');
    t.after(() => socket.destroy());
    socket.on('error', () => {});
    await once(socket, 'connect');
    let answeredAt = 0;
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      answeredAt = Date.now();
    });
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    socket.write(head('GET /healthz HTTP/1.1', 'Host: walk'));
    const closedAt = await Promise.race([
      closed,
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000)),
    ]);
    assert.match(received, /^HTTP\/1\.1 200 /);
    assert.match(received, /\r\nkeep-alive: timeout=1\r\n/i);
    assert.ok(closedAt, 'the idle connection was still open after 30 s (keepalive_timeout 1 s)');
    assert.ok(closedAt - answeredAt >= 900, `closed ${closedAt - answeredAt} ms after the answer`);
  });

  test('workers.grace_period: on SIGTERM a request still running after it is cut, and the worker exits 0', async (t) => {
    const worker = await startWorker({ config: { workers: { grace_period: '500ms' } } });
    t.after(() => worker.stop());
    // A POST /echo whose body never ends: the app stays inside the request.
    const req = httpRequest({
      host: '127.0.0.1',
      port: worker.port,
      path: '/echo',
      method: 'POST',
      agent: false,
    });
    req.on('error', () => {});
    req.write('started;');
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    res.on('error', () => {});
    assert.equal(String((await once(res, 'data'))[0]), 'started;');
    const cut = new Promise<number>((resolve) => res.once('close', () => resolve(Date.now())));

    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    const cutAt = await cut;
    assert.equal(res.complete, false, 'the response ended normally');
    assert.ok(
      cutAt - signalledAt >= 450,
      `cut ${cutAt - signalledAt} ms after SIGTERM, before the 500 ms grace period`,
    );
    assert.ok(
      cutAt - signalledAt < 9000,
      `cut ${cutAt - signalledAt} ms after SIGTERM: not the 500 ms (default 10 s)`,
    );
    assert.deepEqual(await worker.exited, { code: 0, signal: null });
    assert.ok(
      worker.logs.some((l) => l.msg === 'grace period over; closed open connections' && l.inFlight === 1),
    );
  });

  test('workers.concurrency: with 1 the worker runs one request at a time and the next waits (not refused); by default they overlap', async (t) => {
    /** Two concurrent /delay/300; each request line's app start and end, from the worker's log. */
    const pair = async (config: Record<string, unknown>) => {
      const worker = await startWorker({ config });
      t.after(() => worker.stop());
      const replies = await Promise.all(
        ['a', 'b'].map((q) => getAt('127.0.0.1', worker.port, `/delay/300?${q}`)),
      );
      assert.deepEqual(
        replies.map((r) => r.status),
        [200, 200],
      );
      const lines = await Promise.all(
        ['a', 'b'].map((q) => worker.waitForLog((l) => l.msg === 'request' && l.path === `/delay/300?${q}`)),
      );
      // The line is written when the response finished; duration counts from arrival, queued is the wait.
      return lines
        .map((l) => {
          const end = Date.parse(String(l.time));
          return { start: end - Number(l.duration) + Number(l.queued ?? 0), end, queued: l.queued };
        })
        .sort((x, y) => x.start - y.start);
    };
    const [first, second] = await pair({ workers: { concurrency: 1 } });
    assert.equal(first!.queued, undefined);
    assert.ok(Number(second!.queued) > 0, 'the second request did not wait');
    // Log times are whole milliseconds: a few of slack.
    assert.ok(
      second!.start >= first!.end - 3,
      `second started ${first!.end - second!.start} ms before the first ended`,
    );
    const [a, b] = await pair({});
    assert.ok(b!.start < a!.end, 'without a limit the two requests did not overlap');
  });

  test('log_level warn: the worker logs app errors, and no info line (no "listening", no request lines)', async (t) => {
    const port = await freePort();
    const worker = await startFromConfig(
      t,
      'worker',
      { workers: { app: join(fixtures, 'faulty.js') }, log_level: 'warn' },
      { PORT: String(port) },
    );
    assert.equal((await getAt('127.0.0.1', port, '/')).status, 200);
    assert.equal((await getAt('127.0.0.1', port, '/throw')).status, 500);
    assert.equal((await worker.stop()).code, 0);
    const levels = worker.book.lines.map((l) => `${l.level} ${l.msg}`);
    assert.ok(levels.includes('50 app error'), `the app error is missing: ${levels}`);
    assert.deepEqual(
      levels.filter((l) => Number(l.split(' ')[0]) < 40),
      [],
      'info lines at log_level warn',
    );
  });
});
