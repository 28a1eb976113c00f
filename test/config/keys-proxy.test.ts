import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fakeContainer } from '../helpers/discovery.js';
import { freePort } from '../helpers/net.js';
import { freePortRange } from '../helpers/pm2.js';
import {
  type Cleanup,
  eventually,
  type InProcessProxy,
  request,
  servers,
  startProxy,
  startProxyProcess,
} from '../helpers/proxy.js';
import {
  createRawBackend,
  type RawAnswer,
  type RawBackend,
  type RawBackendOptions,
  type RawRequest,
} from '../helpers/raw-backend.js';
import {
  createSilentBackend,
  createWatchedBackend,
  getAt,
  refused,
  startFakeEngine,
  startFromConfig,
  startPortServers,
  upstreamStatus,
} from './walk-helpers.js';

/**
 * The config walk, proxy side: for each key of config/default.yaml that no other test shows the
 * running proxy obeying, a test with a non-default value whose effect is seen from outside.
 * test/config/keys-walk.test.ts lists every key and the test that proves it.
 */

async function rawBackend(
  t: Cleanup,
  name: string,
  answer?: RawBackendOptions['answer'],
): Promise<RawBackend> {
  const backend = await createRawBackend(answer === undefined ? { name } : { name, answer });
  t.after(() => backend.close());
  return backend;
}

/** Which backend answered each of `count` sequential GETs (raw backends answer their name). */
async function answeredBy(proxy: InProcessProxy, count: number, path = '/'): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await request(proxy.port, { path });
    assert.equal(reply.status, 200, reply.text);
    names.push(reply.text.trim());
  }
  return names;
}

/** Two distinct ports that were free a moment ago. */
async function twoFreePorts(): Promise<[number, number]> {
  const first = await freePort();
  for (;;) {
    const second = await freePort();
    if (second !== first) return [first, second];
  }
}

describe('listeners', () => {
  test('listen and status.listen: clients and /status are served on exactly the configured host and port', async (t) => {
    const backend = await rawBackend(t, 'a');
    const [port, statusPort] = await twoFreePorts();
    const proxy = await startProxy(t, {
      listen: `127.0.0.2:${port}`,
      status: { listen: `127.0.0.2:${statusPort}` },
      upstream: { servers: servers(backend.port) },
    });
    assert.equal(proxy.port, port);
    assert.equal(proxy.statusPort, statusPort);
    assert.deepEqual(await getAt('127.0.0.2', port, '/'), { status: 200, text: 'a\n' });
    assert.equal((await getAt('127.0.0.2', statusPort, '/status')).status, 200);
    // The host is obeyed too: nothing answers on the same ports of 127.0.0.1.
    assert.equal(await refused('127.0.0.1', port), true, `127.0.0.1:${port} accepted a connection`);
    assert.equal(
      await refused('127.0.0.1', statusPort),
      true,
      `127.0.0.1:${statusPort} accepted a connection`,
    );
  });
});

describe('the pool', () => {
  test('workers.count, workers.host and workers.port: without upstream.servers the proxy balances over count workers at host:port+i', async (t) => {
    const base = await freePortRange(3);
    const ports = [base, base + 1, base + 2];
    await startPortServers(t, '127.0.0.2', ports);
    const proxy = await startProxy(t, { workers: { count: 3, host: '127.0.0.2', port: base } });
    const answers = await answeredBy(proxy, 6);
    assert.deepEqual(
      answers.map(Number).sort((a, b) => a - b),
      [base, base, base + 1, base + 1, base + 2, base + 2],
    );
  });

  test('upstream.servers[].max_fails and fail_timeout: a server keeps its own, not the upstream defaults', async (t) => {
    let failing = true;
    const a = await rawBackend(t, 'a', (): RawAnswer => (failing ? 'reset' : {}));
    const b = await rawBackend(t, 'b');
    const proxy = await startProxy(t, {
      upstream: {
        servers: servers({ address: a.address, max_fails: 2, fail_timeout: '3s' }, b.port),
        max_fails: 1,
        fail_timeout: '60s',
      },
    });
    /** Requests until a has failed n times (each failure is retried on b: 200); when the n-th was sent and answered. */
    const untilFailures = async (n: number) => {
      let sent = 0;
      for (let i = 0; i < 20 && a.requests.length < n; i++) {
        sent = Date.now();
        await answeredBy(proxy, 1);
      }
      assert.equal(a.requests.length, n);
      return { sent, answered: Date.now() };
    };
    await untilFailures(1);
    const afterOne = await upstreamStatus(proxy.statusPort, a.address);
    assert.equal(
      afterOne.state,
      'up',
      'out after 1 failure: its own max_fails is 2 (the upstream default 1)',
    );
    const second = await untilFailures(2);
    const afterTwo = await upstreamStatus(proxy.statusPort, a.address);
    assert.equal(afterTwo.state, 'down', 'still in after 2 failures within its fail_timeout');
    // Held out for its own 3 s from the second failure (the upstream default would be 60 s).
    const downUntil = Date.parse(afterTwo.downUntil ?? '');
    assert.ok(
      downUntil >= second.sent + 3000 && downUntil <= second.answered + 3000,
      `down until ${downUntil - second.sent} ms after the failing request was sent`,
    );
    const back = await eventually(
      async () => (await upstreamStatus(proxy.statusPort, a.address)).state === 'up',
      20_000,
    );
    assert.ok(back, 'a was not back 20 s after its 3 s fail_timeout');
    failing = false;
    const names = await answeredBy(proxy, 4);
    assert.ok(names.includes('a'), `a took no request once back: ${names}`);
  });

  test('upstream.servers[].backup: a backup server takes requests only while no primary can', async (t) => {
    const primary = await rawBackend(t, 'primary');
    const backup = await rawBackend(t, 'backup');
    const proxy = await startProxy(t, {
      upstream: { servers: servers(primary.port, { address: backup.address, backup: true }) },
    });
    assert.deepEqual(await answeredBy(proxy, 6), Array(6).fill('primary'));
    assert.equal(backup.requests.length, 0);
    await primary.close();
    assert.deepEqual(await answeredBy(proxy, 3), Array(3).fill('backup'));
  });

  test('upstream.resolve: the pool is every address of the name, at the configured port', async (t) => {
    const backend = await rawBackend(t, 'resolved');
    const proxy = await startProxy(t, {
      upstream: { resolve: { host: 'localhost', port: backend.port, interval: '1s' } },
    });
    const updated = await proxy.waitForLog((l) => l.msg === 'pool updated');
    const pool = updated.servers as string[];
    assert.ok(pool.includes(backend.address), `localhost:${backend.port} gave the pool ${pool}`);
    assert.ok(
      pool.every((address) => address.endsWith(`:${backend.port}`)),
      `a server not on port ${backend.port}: ${pool}`,
    );
    // localhost may also resolve to ::1, where nothing listens: a refused connection is retried.
    assert.deepEqual(await answeredBy(proxy, 3), Array(3).fill('resolved'));
  });

  test("upstream.docker: the pool is the stack's running workers, listed from the engine on the configured socket, at the configured port", async (t) => {
    const backend = await rawBackend(t, 'container');
    const engine = await startFakeEngine([
      fakeContainer({ id: 'ready0000001', ip: '127.0.0.1', stack: 'walk' }),
      fakeContainer({ id: 'start0000002', ip: '127.0.0.9', stack: 'walk', health: 'starting' }),
    ]);
    t.after(() => engine.close());
    const proxy = await startProxy(t, {
      upstream: { docker: { stack: 'walk', port: backend.port, socket: engine.socket } },
      // The container left out for now is logged at debug level.
      log_level: 'debug',
    });
    const updated = await proxy.waitForLog((l) => l.msg === 'pool updated');
    assert.deepEqual(updated.servers, [backend.address]);
    assert.deepEqual(await answeredBy(proxy, 2), ['container', 'container']);
    for (const filters of [...engine.listFilters, ...engine.eventFilters]) {
      assert.ok((JSON.parse(filters) as { label: string[] }).label.includes('gatehouse.stack=walk'), filters);
    }
    assert.ok(engine.listFilters.length > 0 && engine.eventFilters.length > 0);
    await proxy.waitForLog((l) => l.msg === 'docker discovery: container not in the pool' && l.level === 20);
  });
});

describe('balancing', () => {
  test('upstream.balance ip_hash: every request of one client address goes to the same upstream', async (t) => {
    const list = [await rawBackend(t, 'a'), await rawBackend(t, 'b'), await rawBackend(t, 'c')];
    const proxy = await startProxy(t, {
      upstream: { servers: servers(...list.map((b) => b.port)), balance: 'ip_hash' },
    });
    const names = await answeredBy(proxy, 9);
    assert.equal(new Set(names).size, 1, `round robin would spread these: ${names}`);
  });

  /** One upstream holds a slow request; the next requests all go to the other one (round robin would alternate). */
  async function loadAware(t: Cleanup, balance: 'least_conn' | 'random'): Promise<void> {
    const answer = (req: RawRequest): RawAnswer => (req.target === '/slow' ? { delay: 1500 } : {});
    const a = await rawBackend(t, 'a', answer);
    const b = await rawBackend(t, 'b', answer);
    const proxy = await startProxy(t, { upstream: { servers: servers(a.port, b.port), balance } });
    const slow = request(proxy.port, { path: '/slow' });
    const arrived = await eventually(() => [a, b].some((x) => x.requests.some((r) => r.target === '/slow')));
    assert.ok(arrived, 'the slow request never reached an upstream');
    const busy = a.requests.some((r) => r.target === '/slow') ? 'a' : 'b';
    const names = await answeredBy(proxy, 4, '/fast');
    assert.deepEqual(names, Array(4).fill(busy === 'a' ? 'b' : 'a'), `${busy} holds the slow request`);
    assert.equal((await slow).status, 200);
  }

  test('upstream.balance least_conn: while one upstream holds a slow request, the next requests go to the other', (t) =>
    loadAware(t, 'least_conn'));

  test('upstream.balance random: of its two draws the less loaded wins, so a busy upstream is passed over', (t) =>
    loadAware(t, 'random'));
});

describe('upstream connections', () => {
  test('upstream.keepalive_timeout: an idle upstream connection is reused within it and closed by the proxy after it', async (t) => {
    const backend = await createWatchedBackend();
    t.after(() => backend.close());
    const proxy = await startProxy(t, {
      upstream: { servers: servers(backend.port), keepalive_timeout: '500ms' },
    });
    assert.equal((await request(proxy.port, { path: '/1' })).status, 200);
    assert.equal((await request(proxy.port, { path: '/2' })).status, 200);
    assert.equal(backend.connections, 1, 'the second request did not reuse the idle connection');
    const closed = await Promise.race([
      backend.peerClosed(1),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 20_000)),
    ]);
    assert.ok(closed, 'the proxy kept the idle connection 20 s (its keepalive_timeout is 500 ms)');
    const idle = closed - backend.answered.at(-1)!.at;
    assert.ok(idle >= 450, `closed after ${idle} ms idle, before the 500 ms keepalive_timeout`);
    assert.equal((await request(proxy.port, { path: '/3' })).status, 200);
    assert.equal(backend.connections, 2, 'a request after the close needs a new connection');
  });
});

describe('active health', () => {
  test('upstream.health.path, interval, fall and rise: probes GET the path every interval; out on the fall-th failed probe, back on the rise-th good one', async (t) => {
    let passing = false;
    const probes: Array<{ at: number; healthyBefore: boolean }> = [];
    let proxy: InProcessProxy | null = null;
    const backend = await rawBackend(t, 'probed', (req): RawAnswer => {
      if (req.target !== '/walk-probe') return {};
      // The upstream's state as this probe arrives: the verdicts of every earlier probe, this one
      // not yet (probes go one after another). The first comes while the proxy starts: healthy.
      const healthyBefore = proxy?.server.runtime.backends[0]?.pool.upstreams[0]?.healthy ?? true;
      probes.push({ at: Date.now(), healthyBefore });
      // Failing from the first probe; passing from the probe that finds it out.
      if (!healthyBefore) passing = true;
      return passing ? {} : { status: 500 };
    });
    proxy = await startProxy(t, {
      upstream: {
        servers: servers(backend.port),
        health: { enabled: true, path: '/walk-probe', interval: '600ms', timeout: '500ms', fall: 3, rise: 1 },
      },
    });
    const enough = await eventually(() => probes.length >= 5, 30_000);
    assert.ok(enough, `only ${probes.length} probes in 30 s`);
    // Three failures take it out (the 4th probe finds it down); one pass brings it back (defaults: 2 and 2).
    assert.deepEqual(
      probes.slice(0, 5).map((p) => p.healthyBefore),
      [true, true, true, false, true],
    );
    assert.ok(
      backend.requests.every((r) => r.target === '/walk-probe'),
      'a probe went elsewhere than health.path',
    );
    const gaps = probes.slice(1, 5).map((p, i) => p.at - probes[i]!.at);
    assert.ok(Math.min(...gaps) >= 590, `probes ${gaps} ms apart, under the 600 ms interval`);
    assert.ok(Math.min(...gaps) < 1900, `probes ${gaps} ms apart: not the 600 ms interval (default 2 s)`);
  });

  test('upstream.health.enabled and timeout: a probe answered after the timeout fails; with enabled false no probe is sent', async (t) => {
    // Three proxies in front of one backend that answers every probe after 400 ms, told apart by
    // their health.path. For each path: the upstream's state (in that proxy) as each probe arrives.
    const proxies = new Map<string, InProcessProxy>();
    const seen = new Map<string, boolean[]>();
    const backend = await rawBackend(t, 'slow-health', (req): RawAnswer => {
      // The first probe is sent while the proxy starts, before it is in the map: healthy then.
      const healthy = proxies.get(req.target)?.server.runtime.backends[0]?.pool.upstreams[0]?.healthy ?? true;
      seen.set(req.target, [...(seen.get(req.target) ?? []), healthy]);
      return { delay: 400 };
    });
    const withHealth = async (path: string, health: Record<string, unknown>) => {
      const upstream = { servers: servers(backend.port), health: { path, fall: 1, rise: 1, ...health } };
      proxies.set(path, await startProxy(t, { upstream }));
    };
    await withHealth('/short', { enabled: true, timeout: '150ms', interval: '500ms' });
    await withHealth('/long', { enabled: true, timeout: '1500ms', interval: '2s' });
    await withHealth('/off', { enabled: false });
    const probed = await eventually(
      () => (seen.get('/short')?.length ?? 0) >= 2 && (seen.get('/long')?.length ?? 0) >= 2,
      30_000,
    );
    assert.ok(probed, `probes seen: ${JSON.stringify([...seen])}`);
    // Past a 150 ms timeout the first probe failed (fall 1: out); within 1500 ms it passed. What
    // the backend sees with the first probe is not asserted: on a loaded machine that probe may
    // reach it only after its 150 ms were up (the upstream is out already then).
    assert.equal(seen.get('/short')![1], false, `/short: ${JSON.stringify(seen.get('/short'))}`);
    assert.equal(seen.get('/long')![1], true, `/long: ${JSON.stringify(seen.get('/long'))}`);
    // An enabled check probes at once on start; this one has had seconds.
    assert.equal(seen.get('/off'), undefined, 'the proxy with health.enabled false probed');
  });
});

describe('shutdown', () => {
  test('timeouts.shutdown: on SIGTERM a request still running after it is cut, and the proxy exits 0', async (t) => {
    const backend = await createSilentBackend();
    t.after(() => backend.close());
    const proxy = await startProxyProcess(t, {
      config: { upstream: { servers: servers(backend.port) }, timeouts: { shutdown: '500ms' } },
    });
    const stuck = request(proxy.port, { path: '/stuck', timeout: 60_000 }).then(
      (reply) => ({ at: Date.now(), outcome: `answered ${reply.status}` }),
      (err: Error) => ({ at: Date.now(), outcome: `cut: ${err.message}` }),
    );
    await backend.received;
    const signalledAt = Date.now();
    proxy.signal('SIGTERM');
    const { at, outcome } = await stuck;
    assert.match(outcome, /^cut: /);
    assert.ok(
      at - signalledAt >= 450,
      `cut ${at - signalledAt} ms after SIGTERM, before the 500 ms shutdown`,
    );
    assert.ok(
      at - signalledAt < 9000,
      `cut ${at - signalledAt} ms after SIGTERM: not the 500 ms (default 10 s)`,
    );
    assert.deepEqual(await proxy.exited, { code: 0, signal: null });
    assert.ok(proxy.logs.some((l) => l.msg === 'shutdown timeout; cut open requests' && l.inFlight === 1));
  });
});

describe('retries', () => {
  test('retries.next_upstream without error: a GET whose upstream resets is not tried on another (502)', async (t) => {
    const a = await rawBackend(t, 'a', 'reset');
    const b = await rawBackend(t, 'b');
    const proxy = await startProxy(t, {
      upstream: { servers: servers(a.port, b.port) },
      retries: { next_upstream: ['timeout'] },
    });
    assert.equal((await request(proxy.port, { path: '/x' })).status, 502);
    assert.equal(b.requests.length, 0);
  });

  test('retries.next_upstream without timeout: a GET past the read timeout is not tried on another (504)', async (t) => {
    const silent = await createSilentBackend();
    t.after(() => silent.close());
    const b = await rawBackend(t, 'b');
    const proxy = await startProxy(t, {
      upstream: { servers: servers(silent.port, b.port) },
      timeouts: { read: '300ms' },
      retries: { next_upstream: ['error'] },
    });
    assert.equal((await request(proxy.port, { path: '/x' })).status, 504);
    assert.equal(b.requests.length, 0);
  });

  test('retries.next_upstream http_503 and http_504: a GET so answered is tried on the next upstream; without them it is passed on', async (t) => {
    for (const status of [503, 504]) {
      for (const listed of [true, false]) {
        const a = await rawBackend(t, 'a', { status, body: `${status} from a\n` });
        const b = await rawBackend(t, 'b');
        const proxy = await startProxy(t, {
          upstream: { servers: servers(a.port, b.port) },
          retries: { next_upstream: listed ? ['error', 'timeout', `http_${status}`] : ['error', 'timeout'] },
        });
        const reply = await request(proxy.port, { path: '/x' });
        const expected = listed ? [200, 'b\n'] : [status, `${status} from a\n`];
        assert.deepEqual([reply.status, reply.text], expected, `http_${status} listed: ${listed}`);
        await proxy.close();
      }
    }
  });

  test('retries.tries 0: no limit, every upstream is tried once (the default 3 would stop at the third)', async (t) => {
    const resetting: RawBackend[] = [];
    for (const name of ['a', 'b', 'c', 'd']) resetting.push(await rawBackend(t, name, 'reset'));
    const good = await rawBackend(t, 'e');
    const proxy = await startProxy(t, {
      upstream: { servers: servers(...resetting.map((b) => b.port), good.port) },
      retries: { tries: 0 },
    });
    const reply = await request(proxy.port, { path: '/x' });
    assert.deepEqual([reply.status, reply.text], [200, 'e\n']);
    assert.deepEqual(
      [...resetting, good].map((b) => b.requests.length),
      [1, 1, 1, 1, 1],
    );
  });
});

describe('logs', () => {
  test('access_log.path stdout: one combined line per request on stdout; off: none', async (t) => {
    const backend = await rawBackend(t, 'a');
    const [toStdout, off] = await Promise.all(
      ['stdout', 'off'].map((path) =>
        startProxyProcess(t, {
          config: { upstream: { servers: servers(backend.port) }, access_log: { format: 'combined', path } },
        }),
      ),
    );
    for (const proxy of [toStdout!, off!]) {
      const reply = await request(proxy.port, { path: '/walk-log', headers: { 'User-Agent': 'walk' } });
      assert.equal(reply.status, 200);
      // Stopped, so every buffered line is out and read.
      assert.equal((await proxy.stop()).code, 0);
    }
    const lines = (proxy: typeof toStdout) =>
      proxy!.logs.filter((l) => l.raw !== undefined).map((l) => l.raw);
    const [line, ...more] = lines(toStdout);
    assert.match(line ?? '', /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/walk-log HTTP\/1\.1" 200 2 "-" "walk"$/);
    assert.deepEqual(more, []);
    assert.deepEqual(lines(off), []);
  });

  test('log_level warn: the proxy logs warnings and errors, and no info line (not even "listening")', async (t) => {
    const backend = await rawBackend(t, 'a');
    const [port, statusPort] = await twoFreePorts();
    const proxy = await startFromConfig(t, 'proxy', {
      listen: `127.0.0.1:${port}`,
      status: { listen: `127.0.0.1:${statusPort}` },
      upstream: { servers: servers(backend.port) },
      client_max_body_size: '1k',
      log_level: 'warn',
    });
    assert.equal((await request(port, { path: '/' })).status, 200);
    assert.equal((await request(port, { method: 'POST', path: '/', body: 'x'.repeat(2048) })).status, 413);
    assert.equal((await proxy.stop()).code, 0);
    const levels = proxy.book.lines.map((l) => `${l.level} ${l.msg}`);
    assert.ok(levels.includes('40 Content Too Large'), `the 413 warning is missing: ${levels}`);
    assert.deepEqual(
      levels.filter((l) => Number(l.split(' ')[0]) < 40),
      [],
      'info lines at log_level warn',
    );
  });
});
