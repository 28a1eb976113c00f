import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerConfig } from '../../config/index.js';
import { createLogger } from '../../process/logger.js';
import { createDnsSource } from '../../proxy/sources/dns.js';

const defaults = { maxFails: 2, failTimeout: 7_000 };

/** A lookup that answers from a script (the last answer repeats) and lets a test wait for call n. */
function scriptedLookup(answers: ReadonlyArray<string[] | Error>) {
  let calls = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  async function lookup(host: string): Promise<string[]> {
    assert.equal(host, 'app');
    const answer = answers[Math.min(calls, answers.length - 1)]!;
    calls++;
    for (const waiter of waiters.filter((w) => w.n <= calls)) waiter.resolve();
    if (answer instanceof Error) throw answer;
    return answer;
  }
  return {
    lookup,
    calls: () => calls,
    /** Resolves once lookup has been called n times and that call's answer has been handled. */
    async waitForCall(n: number): Promise<void> {
      // The source's timer is unref'd (it must not hold a process open); hold the loop while waiting.
      const keepAlive = setInterval(() => {}, 1_000);
      try {
        if (calls < n) await new Promise<void>((resolve) => waiters.push({ n, resolve }));
        await sleep(1);
      } finally {
        clearInterval(keepAlive);
      }
    },
  };
}

function captureLogs() {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ name: 'test', level: 'debug' }, sink), lines };
}

describe('createDnsSource', () => {
  test('delivers one server per address, sorted, with the resolve port and the pool defaults', async (t) => {
    const script = scriptedLookup([['10.0.0.2', '10.0.0.1', 'fd00::5', '10.0.0.1']]);
    const source = createDnsSource({ host: 'app', port: 3000, interval: 60_000 }, defaults, {
      lookup: script.lookup,
    });
    const snapshots: Array<readonly ServerConfig[]> = [];
    t.after(() => source.stop());
    source.start((servers) => snapshots.push(servers));
    await script.waitForCall(1);
    assert.equal(snapshots.length, 1);
    assert.deepEqual(snapshots[0], [
      {
        address: '10.0.0.1:3000',
        host: '10.0.0.1',
        port: 3000,
        weight: 1,
        maxFails: 2,
        failTimeout: 7_000,
        backup: false,
      },
      {
        address: '10.0.0.2:3000',
        host: '10.0.0.2',
        port: 3000,
        weight: 1,
        maxFails: 2,
        failTimeout: 7_000,
        backup: false,
      },
      {
        address: '[fd00::5]:3000',
        host: 'fd00::5',
        port: 3000,
        weight: 1,
        maxFails: 2,
        failTimeout: 7_000,
        backup: false,
      },
    ]);
  });

  test('delivers a new snapshot only when the set of addresses changed', async (t) => {
    const script = scriptedLookup([
      ['10.0.0.2', '10.0.0.1'],
      ['10.0.0.1', '10.0.0.2'],
      ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
      ['10.0.0.3', '10.0.0.1', '10.0.0.2'],
    ]);
    const source = createDnsSource({ host: 'app', port: 3000, interval: 2 }, defaults, {
      lookup: script.lookup,
    });
    const snapshots: string[][] = [];
    t.after(() => source.stop());
    source.start((servers) => snapshots.push(servers.map((s) => s.address)));
    await script.waitForCall(5);
    assert.deepEqual(snapshots, [
      ['10.0.0.1:3000', '10.0.0.2:3000'],
      ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000'],
    ]);
  });

  test('a failed or empty lookup keeps the last snapshot and is logged', async (t) => {
    const script = scriptedLookup([['10.0.0.1'], new Error('ENOTFOUND app'), [], ['10.0.0.1'], ['10.0.0.4']]);
    const { logger, lines } = captureLogs();
    const source = createDnsSource({ host: 'app', port: 3000, interval: 2 }, defaults, {
      lookup: script.lookup,
      logger,
    });
    const snapshots: string[][] = [];
    t.after(() => source.stop());
    source.start((servers) => snapshots.push(servers.map((s) => s.address)));
    await script.waitForCall(5);
    assert.deepEqual(snapshots, [['10.0.0.1:3000'], ['10.0.0.4:3000']]);
    const warnings = lines.filter((line) => line.msg === 'dns lookup failed; keeping the last pool');
    assert.equal(warnings.length, 2);
    assert.ok(warnings.every((line) => line.level === 40));
  });

  test('stop() ends the lookups, and an answer still in flight is dropped', async () => {
    let release: (addresses: string[]) => void = () => {};
    let calls = 0;
    const lookup = (): Promise<string[]> => {
      calls++;
      return new Promise((resolve) => {
        release = resolve;
      });
    };
    const source = createDnsSource({ host: 'app', port: 3000, interval: 1 }, defaults, { lookup });
    const snapshots: unknown[] = [];
    source.start((servers) => snapshots.push(servers));
    assert.equal(calls, 1);
    source.stop();
    release(['10.0.0.1']);
    await sleep(20);
    assert.deepEqual([calls, snapshots.length], [1, 0]);
  });

  test('stop() clears the timer between lookups', async () => {
    const script = scriptedLookup([['10.0.0.1']]);
    const source = createDnsSource({ host: 'app', port: 3000, interval: 2 }, defaults, {
      lookup: script.lookup,
    });
    source.start(() => {});
    await script.waitForCall(2);
    source.stop();
    const calls = script.calls();
    await sleep(30);
    assert.equal(script.calls(), calls);
  });

  test('resolves a real name (localhost) with the system resolver', async (t) => {
    const source = createDnsSource({ host: 'localhost', port: 8001, interval: 60_000 }, defaults);
    t.after(() => source.stop());
    const servers = await new Promise<readonly ServerConfig[]>((resolve) => source.start(resolve));
    assert.ok(servers.length > 0);
    for (const server of servers) {
      assert.ok(isIP(server.host) !== 0, server.host);
      assert.ok(server.host === '::1' || server.host.startsWith('127.'), server.host);
      assert.equal(server.address, isIP(server.host) === 6 ? `[${server.host}]:8001` : `${server.host}:8001`);
    }
  });
});
