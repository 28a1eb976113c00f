import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startWatchdog } from '../../app/watchdog.js';
import { collectLines, killOnExit, type LogLine } from '../helpers/child.js';
import { waitFor } from '../helpers/wait.js';
import { gatehouseBin, startWorker, workerProcessEnv } from '../helpers/worker-process.js';

/** Whether this machine lets a user start a process as pid 1 of a new PID namespace (a container's case). */
const canBePid1 = spawnSync('unshare', ['-Urpf', 'true'], { stdio: 'ignore' }).status === 0;

/**
 * workers.timeout (gunicorn's --timeout): a real worker process whose event loop is blocked
 * (GET /block/:ms, a busy wait) longer than the timeout is killed by its own watchdog thread.
 */

/** GET on the worker itself (not through a proxy, which would retry it on another worker). */
async function get(
  port: number,
  path: string,
): Promise<{ status: number; text: string } | { error: string }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(20_000) });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { error: String((err as Error).cause ?? err) };
  }
}

describe('the worker watchdog (workers.timeout)', { timeout: 40_000 }, () => {
  test('workers.timeout: a worker whose event loop is blocked longer than it is killed with SIGKILL, with one fatal line naming the timeout', async (t) => {
    const worker = await startWorker({ config: { workers: { timeout: '1s' } } });
    t.after(() => worker.stop());
    const sentAt = Date.now();
    // Five seconds of busy loop: only the watchdog can end the process before it is over.
    const reply = await get(worker.port, '/block/5000');
    const exit = await worker.exited;
    const diedAfter = Date.now() - sentAt;
    t.diagnostic(`blocked worker gone ${diedAfter} ms after GET /block/5000 (workers.timeout 1s)`);
    assert.deepEqual(exit, { code: null, signal: 'SIGKILL' });
    assert.ok('error' in reply, `the blocked request was answered: ${JSON.stringify(reply)}`);
    assert.ok(diedAfter < 5000, `killed ${diedAfter} ms after the request, not before the block ended`);
    const lines = worker
      .stderr()
      .split('\n')
      .filter((line) => line.includes('event loop blocked'));
    assert.equal(lines.length, 1, worker.stderr());
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(line.level, 60);
    assert.equal(line.name, 'worker');
    assert.equal(line.port, worker.port);
    assert.equal(line.timeout, 1000);
    assert.equal(line.pid, worker.child.pid);
    assert.match(String(line.msg), /event loop blocked for \d+ ms, longer than workers\.timeout \(1000 ms\)/);
    assert.ok(Number(line.blockedMs) >= 1000, `blocked ${String(line.blockedMs)} ms before the kill`);
  });

  test('workers.timeout 0: no watchdog, a worker blocked for 2 s answers and serves on', async (t) => {
    const worker = await startWorker({ config: { workers: { timeout: 0 } } });
    t.after(() => worker.stop());
    assert.deepEqual(await get(worker.port, '/block/2000'), { status: 200, text: '{"blocked":2000}' });
    assert.deepEqual(await get(worker.port, '/healthz'), { status: 200, text: 'ok' });
    assert.equal(worker.child.exitCode, null);
    assert.equal(worker.child.signalCode, null);
  });

  test('workers.timeout 1s: a worker under ordinary load, and one blocked for less than the timeout, is never killed', async (t) => {
    const worker = await startWorker({ config: { workers: { timeout: '1s' } } });
    t.after(() => worker.stop());
    const paths = ['/', '/healthz', '/delay/20', '/bytes/4096', '/headers'];
    let ok = 0;
    // 400 requests, 8 at a time, for a couple of seconds: several watchdog periods of real work.
    for (let round = 0; round < 50; round++) {
      const replies = await Promise.all(
        Array.from({ length: 8 }, (_, i) => get(worker.port, paths[(round + i) % paths.length]!)),
      );
      ok += replies.filter((r) => 'status' in r && r.status === 200).length;
    }
    // Well under the timeout: a short synchronous stretch is work, not a hang.
    assert.deepEqual(await get(worker.port, '/block/300'), { status: 200, text: '{"blocked":300}' });
    t.diagnostic(`${ok} of 400 requests answered 200 by a worker with workers.timeout 1s`);
    assert.equal(ok, 400);
    assert.equal(worker.child.exitCode, null);
    assert.equal(worker.child.signalCode, null);
    assert.doesNotMatch(worker.stderr(), /event loop blocked/);
  });

  test('workers.timeout as pid 1 (a container without an init): the ignored SIGKILL is followed by exit 137', {
    skip: canBePid1 ? false : 'unshare -Urpf is not allowed here',
  }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pid1-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'config.yaml'), JSON.stringify({ workers: { timeout: '1s' } }));
    const child = spawn(
      'unshare',
      ['-Urpf', process.execPath, gatehouseBin, 'worker', '--config', join(dir, 'config.yaml')],
      { env: workerProcessEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const forget = killOnExit(child);
    t.after(() => {
      child.kill('SIGKILL');
      forget();
    });
    const lines: LogLine[] = [];
    let stderr = '';
    child.stdout.setEncoding('utf8').on(
      'data',
      collectLines((line) => lines.push(line)),
    );
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    const listening = await waitFor('the worker listening', async () =>
      lines.find((line) => line.msg === 'listening'),
    );
    assert.equal(listening.pid, 1);
    const reply = await get(Number(listening.port), '/block/5000');
    const [code] = await exited;
    assert.ok('error' in reply, `the blocked request was answered: ${JSON.stringify(reply)}`);
    // unshare exits with its child's status: 137, from process.exit on the blocked main thread.
    assert.equal(code, 137, stderr);
    assert.match(stderr, /event loop blocked for \d+ ms/);
    assert.match(stderr, /SIGKILL ignored \(the worker is pid 1/);
  });

  test('startWatchdog: timeout 0 starts nothing; stop() ends the thread and the heartbeat', async () => {
    assert.equal(startWatchdog({ timeout: 0 }), null);
    const watchdog = startWatchdog({ timeout: 60_000 });
    assert.ok(watchdog);
    await watchdog.stop();
  });
});
