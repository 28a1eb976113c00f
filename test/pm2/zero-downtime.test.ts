import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot } from '../../config/index.js';
import { PROXY_APP, WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import {
  allUpstreamsUp,
  createPm2Sandbox,
  describeLoad,
  ecosystemFile,
  fetchStatus,
  loadDuring,
  type Pm2Process,
  type Pm2Sandbox,
  run,
  startSlowPost,
  waitFor,
} from '../helpers/pm2.js';

const gatehouse = join(packageRoot, 'bin', 'gatehouse.js');

/** pm2's processes of one app, by pm_id. */
function byId(processes: Pm2Process[], name: string): Map<number, Pm2Process> {
  return new Map(processes.filter((p) => p.name === name).map((p) => [p.pm_id, p]));
}

/** Waits until every process of `name` runs a new pid, online, each restarted once more than before. */
async function replaced(sb: Pm2Sandbox, name: string, before: Map<number, Pm2Process>): Promise<void> {
  await waitFor(
    `${name} replaced`,
    async () => {
      const now = byId(await sb.list(), name);
      return [...before].every(([id, old]) => {
        const p = now.get(id);
        return (
          p &&
          p.pid > 0 &&
          p.pid !== old.pid &&
          p.pm2_env.status === 'online' &&
          p.pm2_env.restart_time === old.pm2_env.restart_time + 1
        );
      });
    },
    60_000,
  );
}

describe('pm2 runs the stack: reloads and a crash lose no request', { timeout: 240_000 }, () => {
  let sb: Pm2Sandbox;

  before(async () => {
    sb = await createPm2Sandbox({
      workers: 2,
      // Quiet logs keep a loaded CI box busy with requests, not with writing log files.
      config: { access_log: { path: 'off' }, log_level: 'warn' },
    });
    const started = await sb.pm2(['start', ecosystemFile, '--env', 'production']);
    assert.equal(started.code, 0, `${started.stdout}\n${started.stderr}`);
    await sb.waitOnline(WORKER_APP, 2);
    await sb.waitOnline(PROXY_APP, 1);
    await allUpstreamsUp(sb.statusUrl, 2);
  });

  // The daemon and everything it started go, pass or fail.
  after(() => sb?.destroy());

  test('gatehouse status shows each worker as pm2 and the proxy see it, matched by port', async () => {
    const { code, stdout, stderr } = await run(
      process.execPath,
      [gatehouse, 'status', '--pm2-home', sb.home],
      {
        env: sb.env,
      },
    );
    assert.equal(code, 0, stderr);
    const workers = byId(await sb.list(), WORKER_APP);
    for (const p of workers.values()) {
      const row = stdout.split('\n').find((line) => line.includes(` ${p.pm2_env.PORT} `));
      assert.ok(row, `a row for port ${p.pm2_env.PORT}:\n${stdout}`);
      assert.match(row, new RegExp(`online\\s+${p.pid}\\s+0\\s+.*\\s+up\\s+yes\\s+\\d+\\s+\\d+\\s+\\d+$`));
    }
  });

  test('pm2 reload gatehouse-worker under load replaces every worker and no request fails', async (t) => {
    const before = byId(await sb.list(), WORKER_APP);
    const { report } = await loadDuring(sb.proxyUrl, async () => {
      const reload = await sb.pm2(['reload', WORKER_APP]);
      assert.equal(reload.code, 0, reload.stderr);
      await replaced(sb, WORKER_APP, before);
    });
    t.diagnostic(describeLoad('pm2 reload gatehouse-worker', report));
    assert.ok(report.get.total > 0 && report.post.total > 0, 'GETs and POSTs ran');
    assert.equal(report.failed, 0, `${JSON.stringify(report.failures)}\n${sb.logs()}`);
  });

  test('pm2 reload gatehouse-proxy under load starts a new proxy beside the old one and no request fails', async (t) => {
    const before = byId(await sb.list(), PROXY_APP);
    const { report } = await loadDuring(sb.proxyUrl, async () => {
      const reload = await sb.pm2(['reload', PROXY_APP]);
      assert.equal(reload.code, 0, reload.stderr);
      await replaced(sb, PROXY_APP, before);
    });
    t.diagnostic(describeLoad('pm2 reload gatehouse-proxy', report));
    assert.ok(report.get.total > 0 && report.post.total > 0, 'GETs and POSTs ran');
    assert.equal(report.failed, 0, `${JSON.stringify(report.failures)}\n${sb.logs()}`);
  });

  test('kill -9 of a worker mid-load: pm2 restarts it, no GET fails, POSTs in flight on it get 502', async (t) => {
    await allUpstreamsUp(sb.statusUrl, 2);
    const slow = Array.from({ length: 6 }, (_, i) => startSlowPost(sb.proxyUrl, `held back ${i}`));
    let victim: Pm2Process | undefined;
    let heldOnVictim = 0;
    const { report } = await loadDuring(sb.proxyUrl, async () => {
      // The held-back POSTs stay in flight; the rest of the load comes and goes. The upstream with the
      // most in flight over a few samples is one holding some of them: that worker dies.
      await sleep(800);
      const floor = new Map<string, number>();
      for (let i = 0; i < 3; i++) {
        const snapshot = await fetchStatus(sb.statusUrl);
        for (const u of snapshot?.upstreams ?? [])
          floor.set(u.address, Math.min(floor.get(u.address) ?? Infinity, u.inFlight));
        await sleep(100);
      }
      const [address, inFlight] = [...floor].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
      heldOnVictim = inFlight;
      const workers = byId(await sb.list(), WORKER_APP);
      victim = [...workers.values()].find((p) => address.endsWith(`:${p.pm2_env.PORT}`));
      assert.ok(victim, `a worker listens on ${address}`);
      process.kill(victim.pid, 'SIGKILL');
      await sleep(300);
      for (const post of slow) post.finish();
      await replaced(sb, WORKER_APP, new Map([[victim.pm_id, victim]]));
    });
    const held = await Promise.all(slow.map((post) => post.result));
    const heldFailed = held.filter((r) => r.error);
    const postFailures = Object.entries(report.failures);
    t.diagnostic(describeLoad(`kill -9 worker pid ${victim?.pid}`, report));
    t.diagnostic(
      `held-back POSTs: ${heldFailed.length} of ${held.length} failed (${heldFailed.map((r) => r.error).join(', ') || 'none'}); ${heldOnVictim} were in flight on the killed worker`,
    );
    assert.equal(report.get.failed, 0, JSON.stringify(report.failures));
    assert.equal(report.hung, 0, 'every request got an answer');
    assert.ok(
      postFailures.every(([kind]) => kind === '502'),
      `a POST that fails gets 502: ${JSON.stringify(report.failures)}`,
    );
    assert.ok(
      held.every((r) => !r.error || r.error === '502'),
      `held-back POSTs: ${JSON.stringify(held)}`,
    );
    assert.ok(heldFailed.length >= 1, 'the held-back POSTs on the killed worker got 502');
    assert.ok(heldFailed.length <= heldOnVictim, 'no held-back POST on the surviving worker failed');
  });

  test('gatehouse status with the proxy stopped says it is unreachable and still lists the workers', async () => {
    const stopped = await sb.pm2(['stop', PROXY_APP]);
    assert.equal(stopped.code, 0, stopped.stderr);
    const { code, stdout, stderr } = await run(
      process.execPath,
      [gatehouse, 'status', '--pm2-home', sb.home],
      {
        env: sb.env,
      },
    );
    assert.equal(code, 0, stderr);
    assert.match(stdout, /unreachable/);
    for (const port of sb.workerPorts) assert.match(stdout, new RegExp(` ${port}\\s+-\\s+online\\s+\\d+`));
  });
});
