import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import { count, describeLoad, loadDuring } from '../helpers/load.js';
import {
  allUpstreamsUp,
  byId,
  createPm2Sandbox,
  fetchStatus,
  replaced,
  startStack,
  waitFor,
  workerPortOf,
} from '../helpers/pm2.js';

const WORKERS = 3;

/**
 * GET /block/:ms sent straight to one worker (not through the proxy, which would resend it to the
 * next worker and hang that one too). Settles when the exchange ends, answered or cut off.
 */
function blockWorker(
  port: number,
  ms: number,
): Promise<{ endedAt: number; answered: boolean; error?: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: `/block/${ms}`, agent: false });
    req.setTimeout(ms + 10_000, () => req.destroy(new Error('timeout')));
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ endedAt: Date.now(), answered: true }));
      res.on('error', (err) => resolve({ endedAt: Date.now(), answered: false, error: err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      resolve({ endedAt: Date.now(), answered: false, error: err.code ?? err.message }),
    );
    req.end();
  });
}

describe('pm2 runs the stack: a hung worker is killed by its watchdog and restarted', () => {
  test('workers.timeout 2s: a worker blocked for 60 s is killed and restarted by pm2, and no GET fails meanwhile', {
    timeout: 120_000,
  }, async (t) => {
    const sb = await createPm2Sandbox({
      workers: WORKERS,
      config: { access_log: { path: 'off' }, log_level: 'warn', workers: { timeout: '2s' } },
    });
    // The daemon and everything it started go, pass or fail.
    t.after(() => sb.destroy());
    await startStack(sb, WORKERS);
    const victim = [...byId(await sb.list(), WORKER_APP).values()][0]!;
    const port = workerPortOf(victim);
    const times = { blockedAt: 0, killedAt: 0, outAt: 0, restartedAt: 0, backAt: 0 };
    let blocked: Awaited<ReturnType<typeof blockWorker>> | null = null;
    const { report } = await loadDuring(
      sb.proxyUrl,
      async () => {
        times.blockedAt = Date.now();
        // Watched from the start: when the proxy's own status stops showing the worker as up
        // (out of the pool, or marked down), whether before or after the kill.
        const out = waitFor(
          'the hung worker out of the pool',
          async () => {
            const snapshot = await fetchStatus(sb.statusUrl);
            const up = snapshot?.upstreams.some((u) => u.address.endsWith(`:${port}`) && u.state === 'up');
            return snapshot && !up ? Date.now() : null;
          },
          30_000,
          50,
        );
        // The watchdog's SIGKILL cuts this request off: its end is when the worker died.
        blocked = await blockWorker(port, 60_000);
        times.killedAt = blocked.endedAt;
        times.outAt = await out;
        await replaced(sb, WORKER_APP, new Map([[victim.pm_id, victim]]));
        times.restartedAt = Date.now();
        await allUpstreamsUp(sb.statusUrl, WORKERS);
        times.backAt = Date.now();
      },
      { getOnly: true, connections: 10, warmup: 1000, cooldown: 1000 },
    );
    const after = byId(await sb.list(), WORKER_APP).get(victim.pm_id);
    t.diagnostic(describeLoad(`GET load while worker pid ${victim.pid} (:${port}) hung`, report));
    t.diagnostic(
      `block → killed ${times.killedAt - times.blockedAt} ms (workers.timeout 2s); ` +
        `killed → out of the pool ${times.outAt - times.killedAt} ms; ` +
        `killed → restarted by pm2 ${times.restartedAt - times.killedAt} ms; ` +
        `killed → back in the proxy's pool ${times.backAt - times.killedAt} ms; ` +
        `pm_id ${victim.pm_id}: pid ${victim.pid} → ${after?.pid}`,
    );
    if (report.failed > 0) t.diagnostic(sb.explain(report.failedResults));

    // Killed, not answered: the block would have lasted 60 s.
    assert.ok(blocked, 'the block request ended');
    assert.equal((blocked as { answered: boolean }).answered, false, JSON.stringify(blocked));
    assert.ok(
      times.killedAt - times.blockedAt < 30_000,
      `killed after ${times.killedAt - times.blockedAt} ms`,
    );
    // The same pm2 process, a new pid (replaced() checked it was restarted exactly once).
    assert.ok(after && after.pid !== victim.pid && after.pm2_env.status === 'online');
    // The watchdog said why, in the workers' error log as pm2 keeps it.
    const errorLog = readFileSync(join(sb.home, 'logs', 'gatehouse-worker-error.log'), 'utf8');
    const line = errorLog.split('\n').find((l) => l.includes('event loop blocked'));
    assert.ok(line, `no watchdog line in the workers' error log:\n${sb.logs()}`);
    assert.equal((JSON.parse(line) as { pid: number }).pid, victim.pid);
    // Every GET answered: those on the hung worker were resent to another one once it died.
    assert.ok(report.get.total >= 100, `only ${count(report.get.total)} GETs ran`);
    assert.equal(report.failed, 0, describeLoad('GET load', report));
  });
});
