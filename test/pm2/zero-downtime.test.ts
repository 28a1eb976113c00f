import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { PROXY_APP, WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import { describeLoad, failureKind, loadDuring, outcome, startSlowPost } from '../helpers/load.js';
import {
  allUpstreamsUp,
  byId,
  createPm2Sandbox,
  fetchStatus,
  type Pm2Sandbox,
  replaced,
  run,
  startStack,
  waitFor,
  workerPortOf,
} from '../helpers/pm2.js';

const gatehouse = join(packageRoot, 'bin', 'gatehouse.js');

describe('pm2 runs the stack: a crash loses only what was on the crashed worker; gatehouse status', {
  timeout: 240_000,
}, () => {
  let sb: Pm2Sandbox;

  before(async () => {
    sb = await createPm2Sandbox({
      workers: 2,
      // Quiet logs keep a loaded CI box busy with requests, not with writing log files.
      // The kill -9 test holds POST bodies back so that requests sit in flight on the workers: the
      // proxy must stream them (with request buffering it would hold them itself, and a worker's
      // crash would cost nothing). pm2/commands runs the same operations with buffering on.
      config: { access_log: { path: 'off' }, log_level: 'warn', buffering: { request: false } },
    });
    await startStack(sb, 2);
  });

  // The daemon and everything it started go, pass or fail.
  after(() => sb?.destroy());

  // Each test starts from a stack that is up (whatever ran before it) and leaves one behind.
  test('gatehouse status shows each worker as pm2 and the proxy see it, matched by port', async () => {
    await allUpstreamsUp(sb.statusUrl, 2);
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
      const row = stdout.split('\n').find((line) => line.includes(` ${workerPortOf(p)} `));
      assert.ok(row, `a row for port ${workerPortOf(p)}:\n${stdout}`);
      assert.match(
        row,
        new RegExp(
          `online\\s+${p.pid}\\s+${p.pm2_env.restart_time}\\s+.*\\s+up\\s+yes\\s+\\d+\\s+\\d+\\s+\\d+$`,
        ),
      );
    }
  });

  test('kill -9 of a worker mid-load: pm2 restarts it; only requests on it fail — 502 before their response began, cut off after', async (t) => {
    await allUpstreamsUp(sb.statusUrl, 2);
    // The held-back POSTs go out first, alone: then the status page counts exactly how many each
    // worker holds, and the one holding the most dies (no sampling under load, no guess).
    const slow = Array.from({ length: 6 }, (_, i) => startSlowPost(sb.proxyUrl, `held back ${i}`));
    const holding = await waitFor('the held-back POSTs in flight', async () => {
      const snapshot = await fetchStatus(sb.statusUrl);
      const inFlight = snapshot?.upstreams.reduce((sum, u) => sum + u.inFlight, 0);
      return inFlight === slow.length ? snapshot : null;
    });
    const target = [...holding.upstreams].sort((a, b) => b.inFlight - a.inFlight)[0]!;
    const heldOnVictim = target.inFlight;
    const victim = [...byId(await sb.list(), WORKER_APP).values()].find((p) =>
      target.address.endsWith(`:${workerPortOf(p)}`),
    );
    assert.ok(victim, `a worker listens on ${target.address}`);
    const { report } = await loadDuring(sb.proxyUrl, async () => {
      process.kill(victim.pid, 'SIGKILL');
      // Those on the killed worker fail whenever their body comes; the others are echoed.
      for (const post of slow) post.finish();
      await replaced(sb, WORKER_APP, new Map([[victim.pm_id, victim]]));
    });
    const held = await Promise.all(slow.map((post) => post.result));
    const heldFailed = held.filter((r) => r.error);
    const failed = [...report.failedResults, ...heldFailed];
    t.diagnostic(describeLoad(`kill -9 worker pid ${victim.pid} (${target.address})`, report));
    t.diagnostic(
      `held-back POSTs: ${heldFailed.length} of ${held.length} failed (${heldFailed.map(failureKind).join(', ') || 'none'}); ${heldOnVictim} were on the killed worker`,
    );
    if (failed.length > 0) t.diagnostic(sb.explain(failed));

    assert.equal(report.hung, 0, 'every request ended within the request timeout');
    assert.ok(
      held.every((r) => outcome(r) !== 'hung'),
      `held-back POSTs: ${JSON.stringify(held)}`,
    );
    // Nothing of the response had reached the client: the proxy could still answer, and must (502).
    const unanswered = failed.filter((r) => outcome(r) === 'no response');
    assert.deepEqual(
      unanswered,
      [],
      'a request whose response had not begun gets a 502 from the proxy, never a closed connection',
    );
    // A complete answer that failed is a 502 for a POST; a GET is sent again to the other worker.
    for (const r of failed.filter((f) => outcome(f) === 'error response')) {
      assert.equal(r.error, '502', JSON.stringify(r));
      assert.equal(r.method, 'POST', `a GET is retried, not answered 502: ${JSON.stringify(r)}`);
    }
    // The held-back POSTs: exactly those the killed worker held failed, each with a 502.
    assert.equal(heldFailed.length, heldOnVictim, `held-back POSTs: ${JSON.stringify(held)}`);
    assert.ok(
      heldFailed.every((r) => r.error === '502' && r.received === 'whole response'),
      `held-back POSTs: ${JSON.stringify(held)}`,
    );
    // Every failure, 502 or cut off, was a request on the killed worker, by the proxy's own log.
    const lines = await waitFor('a proxy log line for each failed request', async () => {
      const byRequest = new Map(sb.proxyLog().map((line) => [line.requestId, line]));
      return failed.every((r) => r.requestId && byRequest.has(r.requestId)) ? byRequest : null;
    });
    for (const r of failed) {
      assert.equal(lines.get(r.requestId)?.upstream, target.address, `${JSON.stringify(r)} failed elsewhere`);
    }
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
    // The proxy back, for whatever runs after this test.
    const restarted = await sb.pm2(['start', PROXY_APP]);
    assert.equal(restarted.code, 0, restarted.stderr);
    await sb.waitOnline(PROXY_APP, 1);
  });
});
