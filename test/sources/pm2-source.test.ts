import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ServerConfig } from '../../config/index.js';
import { createPm2Source } from '../../proxy/sources/pm2/source.js';
import { captureLogs, fakePm2, fakePm2Process, fakeTimers, settle } from '../helpers/discovery.js';

const config = { app: 'gatehouse-worker', host: '127.0.0.1', port: 9000 };
const defaults = { maxFails: 1, failTimeout: 10_000 };

/** A started source over a fake daemon, its snapshots as address lists, and a clock a test moves. */
async function startSource(
  t: { after(fn: () => void): void },
  setup?: (pm2: ReturnType<typeof fakePm2>) => void,
) {
  const pm2 = fakePm2();
  const clock = fakeTimers();
  const logs = captureLogs();
  let now = 1_000_000;
  setup?.(pm2);
  const source = createPm2Source(config, defaults, {
    connect: pm2.connect,
    timers: clock.timers,
    logger: logs.logger,
    debounce: 25,
    resync: 10_000,
    crashExits: 3,
    crashWindow: 30_000,
    retry: { initial: 250, max: 2_000 },
    now: () => now,
  });
  const snapshots: string[][] = [];
  t.after(() => source.stop());
  source.start((servers: readonly ServerConfig[]) => snapshots.push(servers.map((s) => s.address)));
  await settle();
  return {
    pm2,
    clock,
    logs,
    source,
    snapshots,
    advance(ms: number) {
      now += ms;
    },
  };
}

const worker = (pmId: number, instance = pmId, extra: Partial<Parameters<typeof fakePm2Process>[0]> = {}) =>
  fakePm2Process({ pmId, instance, base: 9000, ...extra });

/** Fires the debounce timer and lets the re-list answer. */
async function relist(clock: ReturnType<typeof fakeTimers>): Promise<void> {
  clock.fireAll();
  await settle();
}

describe('createPm2Source', () => {
  test('the first snapshot comes from one list of pm2’s processes', async (t) => {
    const { snapshots, pm2 } = await startSource(t, (p) => p.setProcesses([worker(0), worker(1)]));
    assert.deepEqual(snapshots, [['127.0.0.1:9000', '127.0.0.1:9001']]);
    assert.equal(pm2.counts.lists, 1);
  });

  test('pm2 scale up: a worker joins at its online event; scale down: it leaves at its drain message', async (t) => {
    const { snapshots, pm2, clock } = await startSource(t, (p) => p.setProcesses([worker(0), worker(1)]));
    // A new instance: launching (not yet ready) is not in the pool...
    pm2.setProcesses([worker(0), worker(1), worker(2, 2, { status: 'launching' })]);
    pm2.emit({ kind: 'process', event: 'start', name: 'gatehouse-worker', pmId: 2 });
    await relist(clock);
    assert.equal(snapshots.length, 1, 'nothing changed while it was launching');
    // ...and joins once pm2 marks it online (after its `ready`).
    pm2.setProcesses([worker(0), worker(1), worker(2)]);
    pm2.emit({ kind: 'process', event: 'online', name: 'gatehouse-worker', pmId: 2 });
    await relist(clock);
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9000', '127.0.0.1:9001', '127.0.0.1:9002']);
    // Scale down: the worker says it drains, and leaves the pool at once, before pm2 lists it gone.
    pm2.emit({ kind: 'draining', name: 'gatehouse-worker', pmId: 0, pid: 1000 });
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9001', '127.0.0.1:9002']);
    // Its exit after a drain is not a crash; it stays out once pm2 deletes it.
    pm2.setProcesses([worker(1), worker(2)]);
    pm2.emit({ kind: 'process', event: 'exit', name: 'gatehouse-worker', pmId: 0 });
    await relist(clock);
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9001', '127.0.0.1:9002']);
  });

  test('a reload: the same pm_id drains out, then comes back under a new pid', async (t) => {
    const { snapshots, pm2, clock } = await startSource(t, (p) => p.setProcesses([worker(0), worker(1)]));
    pm2.emit({ kind: 'draining', name: 'gatehouse-worker', pmId: 0, pid: 1000 });
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9001']);
    pm2.setProcesses([worker(0, 0, { pid: 2000 }), worker(1)]);
    pm2.emit({ kind: 'process', event: 'exit', name: 'gatehouse-worker', pmId: 0 });
    pm2.emit({ kind: 'process', event: 'online', name: 'gatehouse-worker', pmId: 0 });
    await relist(clock);
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9000', '127.0.0.1:9001']);
  });

  test('a drain that would empty the pool waits for the re-list (the next worker came online meanwhile)', async (t) => {
    const { snapshots, pm2, clock } = await startSource(t, (p) => p.setProcesses([worker(0), worker(1)]));
    // pm2 reload: worker 0 drains and leaves...
    pm2.emit({ kind: 'draining', name: 'gatehouse-worker', pmId: 0, pid: 1000 });
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9001']);
    // ...its replacement says ready, and pm2 at once stops worker 1, before any re-list answered.
    pm2.setProcesses([worker(0, 0, { pid: 2000 }), worker(1)]);
    pm2.emit({ kind: 'process', event: 'online', name: 'gatehouse-worker', pmId: 0 });
    pm2.emit({ kind: 'draining', name: 'gatehouse-worker', pmId: 1, pid: 1001 });
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9001'], 'not emptied from the stale list');
    await relist(clock);
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9000']);
    assert.ok(
      snapshots.every((s) => s.length > 0),
      JSON.stringify(snapshots),
    );
  });

  test('reloads in quick succession (pm2 reports each stop as two exits) are not a crash loop; a crash after them counts', async (t) => {
    const { snapshots, pm2, clock, logs, advance } = await startSource(t, (p) =>
      p.setProcesses([worker(0), worker(1)]),
    );
    // pm2's watcher restarting worker 0 on every save, three saves within 30 s: each restart is a
    // drain message, 'exit' from pm2's stop and 'exit' from the child, then the new run's 'online'.
    for (let i = 0; i < 3; i++) {
      advance(2000);
      pm2.emit({ kind: 'draining', name: 'gatehouse-worker', pmId: 0, pid: 1000 + i });
      pm2.setProcesses([worker(0, 0, { pid: 1001 + i }), worker(1)]);
      pm2.emit({ kind: 'process', event: 'exit', name: 'gatehouse-worker', pmId: 0 });
      pm2.emit({ kind: 'process', event: 'exit', name: 'gatehouse-worker', pmId: 0 });
      pm2.emit({ kind: 'process', event: 'online', name: 'gatehouse-worker', pmId: 0 });
      await relist(clock);
      assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9000', '127.0.0.1:9001'], `after restart ${i + 1}`);
    }
    assert.ok(!logs.lines.some((l) => l.reason === 'crash-looping'));
    // The new run's own crashes count as before.
    for (let i = 0; i < 3; i++) {
      advance(2000);
      pm2.emit({ kind: 'process', event: 'exit', name: 'gatehouse-worker', pmId: 0 });
      pm2.emit({ kind: 'process', event: 'online', name: 'gatehouse-worker', pmId: 0 });
      await relist(clock);
    }
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9001']);
  });

  test('events of other apps and bursts of events: one re-list per burst, none for others', async (t) => {
    const { pm2, clock } = await startSource(t, (p) => p.setProcesses([worker(0)]));
    pm2.emit({ kind: 'process', event: 'online', name: 'gatehouse-proxy', pmId: 5 });
    for (const event of ['exit', 'restart', 'online']) {
      pm2.emit({ kind: 'process', event, name: 'gatehouse-worker', pmId: 0 });
    }
    assert.deepEqual(clock.delays(), [10_000, 25], 'the resync and one debounced re-list');
    await relist(clock);
    // The first list, then the debounced one and the resync (fired together here).
    assert.equal(pm2.counts.lists, 3);
  });

  test('a worker that crashes 3 times within 30 s is left out until 30 s pass without a crash', async (t) => {
    const { snapshots, pm2, clock, logs, advance } = await startSource(t, (p) =>
      p.setProcesses([worker(0), worker(1)]),
    );
    for (let i = 0; i < 3; i++) {
      advance(2000);
      pm2.emit({ kind: 'process', event: 'exit', name: 'gatehouse-worker', pmId: 1 });
      pm2.emit({ kind: 'process', event: 'online', name: 'gatehouse-worker', pmId: 1 });
      await relist(clock);
    }
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9000']);
    assert.ok(logs.lines.some((l) => l.msg === 'pm2 pool: worker left out' && l.reason === 'crash-looping'));
    advance(31_000);
    await relist(clock); // the periodic resync
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9000', '127.0.0.1:9001']);
  });

  test('reloads in a row are not crashes: pm2 7 notifies exit twice per reloaded process', async (t) => {
    const { snapshots, pm2, clock } = await startSource(t, (p) => p.setProcesses([worker(0), worker(1)]));
    const pids = [1000, 1001];
    for (let round = 1; round <= 4; round++) {
      for (const pmId of [0, 1]) {
        pm2.emit({ kind: 'draining', name: 'gatehouse-worker', pmId, pid: pids[pmId]! });
        pm2.emit({ kind: 'process', event: 'exit', name: 'gatehouse-worker', pmId });
        pm2.emit({ kind: 'process', event: 'exit', name: 'gatehouse-worker', pmId });
        pids[pmId] = 1000 + round * 10 + pmId;
        pm2.setProcesses([worker(0, 0, { pid: pids[0]! }), worker(1, 1, { pid: pids[1]! })]);
        pm2.emit({ kind: 'process', event: 'online', name: 'gatehouse-worker', pmId });
        await relist(clock);
      }
    }
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9000', '127.0.0.1:9001']);
  });

  test('when every worker crash-loops they all stay in: never an empty pool of our own making', async (t) => {
    const { snapshots, pm2, clock } = await startSource(t, (p) => p.setProcesses([worker(0)]));
    for (let i = 0; i < 3; i++) {
      pm2.emit({ kind: 'process', event: 'exit', name: 'gatehouse-worker', pmId: 0 });
      await relist(clock);
    }
    assert.deepEqual(snapshots, [['127.0.0.1:9000']]);
  });

  test('a single crash (kill -9) does not count as looping', async (t) => {
    const { snapshots, pm2, clock } = await startSource(t, (p) => p.setProcesses([worker(0), worker(1)]));
    pm2.emit({ kind: 'process', event: 'exit', name: 'gatehouse-worker', pmId: 1 });
    await relist(clock);
    assert.deepEqual(snapshots, [['127.0.0.1:9000', '127.0.0.1:9001']]);
  });

  test('no daemon yet, or a lost bus: retried with backoff, the last pool kept meanwhile', async (t) => {
    const { snapshots, pm2, clock, logs } = await startSource(t, (p) => {
      p.setProcesses([worker(0)]);
      p.failNextConnects(2);
    });
    assert.deepEqual(snapshots, []);
    assert.deepEqual(clock.delays(), [250]);
    await relist(clock);
    assert.deepEqual(clock.delays(), [500]);
    await relist(clock);
    assert.deepEqual(snapshots, [['127.0.0.1:9000']]);
    assert.equal(logs.lines.filter((l) => /no answer from the pm2 daemon/.test(l.msg)).length, 2);
    pm2.setProcesses([worker(0), worker(1)]);
    pm2.loseBus();
    assert.equal(pm2.counts.closed, 1);
    assert.deepEqual(clock.delays(), [250], 'backoff starts over after a good list');
    await relist(clock);
    assert.deepEqual(snapshots.at(-1), ['127.0.0.1:9000', '127.0.0.1:9001']);
  });

  test('stop: no timers left, no more snapshots, the client closed', async (t) => {
    const { source, pm2, clock, snapshots } = await startSource(t, (p) => p.setProcesses([worker(0)]));
    source.stop();
    assert.deepEqual(clock.delays(), []);
    assert.equal(pm2.counts.closed, 1);
    pm2.emit({ kind: 'process', event: 'online', name: 'gatehouse-worker', pmId: 1 });
    await relist(clock);
    assert.equal(snapshots.length, 1);
  });
});
