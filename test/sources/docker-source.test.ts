import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ServerConfig } from '../../config/index.js';
import { backoffDelay } from '../../proxy/sources/backoff.js';
import { createDockerSource } from '../../proxy/sources/docker/source.js';
import { createJsonLineParser } from '../../stack/json-lines.js';
import { captureLogs, fakeContainer, fakeDocker, fakeTimers, settle } from '../helpers/discovery.js';

const config = { stack: 'shop', port: 3000, socket: '/var/run/docker.sock' };
const defaults = { maxFails: 1, failTimeout: 10_000 };

/** A started source over a fake engine, its snapshots as address lists. */
async function startSource(
  t: { after(fn: () => void): void },
  setup?: (docker: ReturnType<typeof fakeDocker>) => void,
) {
  const docker = fakeDocker();
  const clock = fakeTimers();
  const logs = captureLogs();
  setup?.(docker);
  const source = createDockerSource(config, defaults, {
    docker: docker.client,
    timers: clock.timers,
    logger: logs.logger,
    debounce: 50,
    retry: { initial: 500, max: 4_000 },
  });
  const snapshots: string[][] = [];
  t.after(() => source.stop());
  source.start((servers: readonly ServerConfig[]) => snapshots.push(servers.map((s) => s.address)));
  await settle();
  return { docker, clock, logs, source, snapshots };
}

describe('createDockerSource', () => {
  test('delivers the first snapshot from one listing of the stack’s running workers', async (t) => {
    const { docker, snapshots } = await startSource(t, (d) =>
      d.setContainers([
        fakeContainer({ id: 'a', ip: '172.20.0.2' }),
        fakeContainer({ id: 'b', ip: '172.20.0.3' }),
      ]),
    );
    assert.deepEqual(snapshots, [['172.20.0.2:3000', '172.20.0.3:3000']]);
    assert.deepEqual(JSON.parse(docker.listCalls[0]!), {
      label: ['gatehouse.stack=shop', 'gatehouse.role=worker'],
      status: ['running'],
    });
    assert.deepEqual(JSON.parse(docker.eventCalls[0]!), {
      type: ['container'],
      label: ['gatehouse.stack=shop', 'gatehouse.role=worker'],
    });
  });

  test('an empty stack still delivers a snapshot, an empty one', async (t) => {
    const { snapshots } = await startSource(t);
    assert.deepEqual(snapshots, [[]]);
  });

  test('container events cause one debounced re-list and a rebuilt snapshot', async (t) => {
    const { docker, clock, snapshots } = await startSource(t, (d) =>
      d.setContainers([fakeContainer({ id: 'a', ip: '172.20.0.2' })]),
    );
    docker.setContainers([
      fakeContainer({ id: 'a', ip: '172.20.0.2' }),
      fakeContainer({ id: 'b', ip: '172.20.0.3' }),
    ]);
    docker.emit({ Type: 'container', Action: 'start', Actor: { ID: 'b' } });
    docker.emit({ Type: 'container', Action: 'health_status: healthy', Actor: { ID: 'b' } });
    docker.emit({ Type: 'container', Action: 'health_status: healthy', Actor: { ID: 'a' } });
    await settle();
    assert.deepEqual(clock.delays(), [50], 'three events, one re-list scheduled');
    assert.equal(docker.listCalls.length, 1);
    clock.fireAll();
    await settle();
    assert.equal(docker.listCalls.length, 2);
    assert.deepEqual(snapshots, [['172.20.0.2:3000'], ['172.20.0.2:3000', '172.20.0.3:3000']]);
  });

  test('events that do not change membership (exec, attach) cause no re-list', async (t) => {
    const { docker, clock } = await startSource(t);
    docker.emit({ Type: 'container', Action: 'exec_start: node -e 1', Actor: { ID: 'a' } });
    docker.emit({ Type: 'container', Action: 'attach', Actor: { ID: 'a' } });
    await settle();
    assert.deepEqual(clock.delays(), []);
  });

  test('a re-list that finds the same workers delivers nothing new', async (t) => {
    const { docker, clock, snapshots } = await startSource(t, (d) =>
      d.setContainers([fakeContainer({ id: 'a', ip: '172.20.0.2' })]),
    );
    docker.emit({ Type: 'container', Action: 'health_status: healthy', Actor: { ID: 'a' } });
    await settle();
    clock.fireAll();
    await settle();
    assert.equal(docker.listCalls.length, 2);
    assert.equal(snapshots.length, 1);
  });

  test('a worker sent SIGTERM leaves the pool at once, before any re-list', async (t) => {
    const { docker, snapshots } = await startSource(t, (d) =>
      d.setContainers([
        fakeContainer({ id: 'a', ip: '172.20.0.2' }),
        fakeContainer({ id: 'b', ip: '172.20.0.3' }),
      ]),
    );
    docker.emit({ Type: 'container', Action: 'kill', Actor: { ID: 'a', Attributes: { signal: '15' } } });
    await settle();
    assert.equal(docker.listCalls.length, 1, 'no re-list yet');
    assert.deepEqual(snapshots.at(-1), ['172.20.0.3:3000']);
  });

  test('a worker sent a signal that does not stop it (SIGHUP) stays in the pool', async (t) => {
    const { docker, snapshots } = await startSource(t, (d) =>
      d.setContainers([fakeContainer({ id: 'a', ip: '172.20.0.2' })]),
    );
    docker.emit({ Type: 'container', Action: 'kill', Actor: { ID: 'a', Attributes: { signal: '1' } } });
    await settle();
    assert.deepEqual(snapshots, [['172.20.0.2:3000']]);
  });

  test('a stopped worker that is started again rejoins the pool', async (t) => {
    const { docker, clock, snapshots } = await startSource(t, (d) =>
      d.setContainers([fakeContainer({ id: 'a', ip: '172.20.0.2' })]),
    );
    docker.emit({ Type: 'container', Action: 'kill', Actor: { ID: 'a', Attributes: { signal: '15' } } });
    await settle();
    docker.emit({ Type: 'container', Action: 'start', Actor: { ID: 'a' } });
    await settle();
    clock.fireAll();
    await settle();
    assert.deepEqual(snapshots, [['172.20.0.2:3000'], [], ['172.20.0.2:3000']]);
  });

  test('an event split across chunks is still read, and an unreadable line is logged and skipped', async (t) => {
    const { docker, clock, logs } = await startSource(t);
    const line = JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID: 'a' } });
    docker.stream!.write('{not json}\n');
    docker.stream!.write(line.slice(0, 10));
    await settle();
    assert.deepEqual(clock.delays(), []);
    docker.stream!.write(`${line.slice(10)}\n`);
    await settle();
    assert.deepEqual(clock.delays(), [50]);
    assert.ok(logs.lines.some((l) => l.msg === 'docker discovery: unreadable event'));
  });

  test('a broken worker is logged once as a warning, not on every re-list', async (t) => {
    const { docker, clock, logs } = await startSource(t, (d) =>
      d.setContainers([fakeContainer({ id: 'a', networks: { one: '172.20.0.2', two: '10.0.0.2' } })]),
    );
    docker.emit({ Type: 'container', Action: 'die', Actor: { ID: 'b' } });
    await settle();
    clock.fireAll();
    await settle();
    const warnings = logs.lines.filter((l) => l.msg === 'docker discovery: container skipped');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.container, 'shop-worker-a');
  });

  test('a lost event stream keeps the last pool, reconnects with growing backoff, and recovers', async (t) => {
    const { docker, clock, logs, snapshots } = await startSource(t, (d) =>
      d.setContainers([fakeContainer({ id: 'a', ip: '172.20.0.2' })]),
    );
    docker.failNextEventConnections(2);
    docker.stream!.end();
    await settle();
    assert.deepEqual(clock.delays(), [500]);
    clock.fireAll();
    await settle();
    assert.deepEqual(clock.delays(), [1_000], 'the second attempt failed: the delay doubled');
    clock.fireAll();
    await settle();
    assert.deepEqual(clock.delays(), [2_000]);
    assert.deepEqual(snapshots, [['172.20.0.2:3000']], 'no snapshot while the engine is away');

    docker.setContainers([
      fakeContainer({ id: 'a', ip: '172.20.0.2' }),
      fakeContainer({ id: 'b', ip: '172.20.0.3' }),
    ]);
    clock.fireAll();
    await settle();
    assert.equal(docker.eventCalls.length, 4);
    assert.deepEqual(
      snapshots.at(-1),
      ['172.20.0.2:3000', '172.20.0.3:3000'],
      're-listed after reconnecting',
    );
    assert.ok(logs.lines.some((l) => l.msg === 'docker discovery: connection restored'));
    assert.equal(logs.lines.filter((l) => l.msg.includes('connection lost')).length, 3);

    // Recovered: the next loss starts again from the first delay.
    docker.stream!.destroy(new Error('socket hang up'));
    await settle();
    assert.deepEqual(clock.delays(), [500]);
  });

  test('a failing listing is retried with backoff capped at the maximum', async (t) => {
    const { clock, snapshots } = await startSource(t, (d) => d.failNextLists(6));
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      delays.push(...clock.delays());
      clock.fireAll();
      await settle();
    }
    assert.deepEqual(delays, [500, 1_000, 2_000, 4_000, 4_000, 4_000]);
    assert.deepEqual(snapshots, [[]], 'delivered once the engine answered');
  });

  test('stop closes the event stream, cancels timers and delivers nothing more', async (t) => {
    const { docker, clock, source, snapshots } = await startSource(t, (d) =>
      d.setContainers([fakeContainer({ id: 'a', ip: '172.20.0.2' })]),
    );
    docker.emit({ Type: 'container', Action: 'die', Actor: { ID: 'a' } });
    await settle();
    source.stop();
    assert.deepEqual(clock.delays(), []);
    assert.equal(docker.stream!.destroyed, true);
    docker.setContainers([]);
    clock.fireAll();
    await settle();
    assert.deepEqual(snapshots, [['172.20.0.2:3000']]);
    assert.equal(docker.eventCalls.length, 1, 'no reconnection after stop');
  });

  test('an exception in the consumer is logged and discovery goes on', async (t) => {
    const docker = fakeDocker();
    const clock = fakeTimers();
    const logs = captureLogs();
    docker.setContainers([fakeContainer({ id: 'a', ip: '172.20.0.2' })]);
    const source = createDockerSource(config, defaults, {
      docker: docker.client,
      timers: clock.timers,
      logger: logs.logger,
    });
    t.after(() => source.stop());
    let calls = 0;
    source.start(() => {
      calls++;
      throw new Error('consumer bug');
    });
    await settle();
    docker.setContainers([]);
    docker.emit({ Type: 'container', Action: 'die', Actor: { ID: 'a' } });
    await settle();
    clock.fireAll();
    await settle();
    assert.equal(calls, 2);
    assert.equal(logs.lines.filter((l) => l.msg === 'applying the docker pool failed').length, 2);
  });
});

describe('backoffDelay', () => {
  test('doubles from the initial delay and stops at the cap', () => {
    const delays = [0, 1, 2, 3, 4, 5, 100].map((n) => backoffDelay(n, { initial: 250, max: 3_000 }));
    assert.deepEqual(delays, [250, 500, 1_000, 2_000, 3_000, 3_000, 3_000]);
  });
});

describe('createJsonLineParser', () => {
  test('splits lines across chunks and multibyte characters, and flushes the last line on end', () => {
    const values: unknown[] = [];
    const parser = createJsonLineParser((v) => values.push(v));
    const bytes = Buffer.from('{"a":"é"}\n{"b":2}\n\n{"c":3}');
    const split = bytes.indexOf(0xa9); // inside the two bytes of é
    parser.push(bytes.subarray(0, split));
    parser.push(bytes.subarray(split));
    assert.deepEqual(values, [{ a: 'é' }, { b: 2 }]);
    parser.end();
    assert.deepEqual(values, [{ a: 'é' }, { b: 2 }, { c: 3 }]);
  });
});
