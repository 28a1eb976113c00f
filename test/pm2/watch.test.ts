import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { PROXY_APP, WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import { describeLoad, loadDuring } from '../helpers/load.js';
import { allUpstreamsUp, createPm2Sandbox, type Pm2Sandbox, waitFor } from '../helpers/pm2.js';

/** The user's app: the sample site plus GET /version, so a test can tell old code from new. */
function writeApp(file: string, version: number): void {
  const site = JSON.stringify(join(packageRoot, 'dist', 'app', 'site', 'index.js'));
  writeFileSync(
    file,
    `import { createSite } from ${site};
const site = createSite({ diagnostics: true, bodyLimit: 1048576 });
export default {
  fetch(request, context) {
    return new URL(request.url).pathname === '/version' ? new Response('${version}') : site.fetch(request, context);
  },
};
`,
  );
}

describe('pm2 development profile: a code change restarts the workers one by one', {
  timeout: 180_000,
}, () => {
  let sb: Pm2Sandbox;
  let appDir: string;
  let appFile: string;

  before(async () => {
    appDir = mkdtempSync(join(tmpdir(), 'gh-app-'));
    appFile = join(appDir, 'app.mjs');
    writeApp(appFile, 1);
    sb = await createPm2Sandbox({
      workers: 2,
      config: { access_log: { path: 'off' }, log_level: 'warn', workers: { app: appFile } },
    });
    // The daemon's setting (what `gatehouse up` sets): pm2's watcher restarts instances this many at
    // a time, and by default that is two — the whole pool at once.
    sb.env.PM2_CONCURRENT_ACTIONS = '1';
    // As users type it (README): in the package root, where sb.pm2 runs pm2.
    const started = await sb.pm2(['start', 'ecosystem.config.cjs', '--env', 'development']);
    assert.equal(started.code, 0, `${started.stdout}\n${started.stderr}`);
    await sb.waitOnline(WORKER_APP, 2);
    await sb.waitOnline(PROXY_APP, 1);
    await allUpstreamsUp(sb.statusUrl, 2);
  });

  after(async () => {
    await sb?.destroy();
    if (appDir) rmSync(appDir, { recursive: true, force: true });
  });

  test('changing the app module under load: both workers run the new code and no request fails', async (t) => {
    const version = async () => (await fetch(`${sb.proxyUrl}/version`)).text();
    assert.equal(await version(), '1');
    const before = new Map((await sb.list()).filter((p) => p.name === WORKER_APP).map((p) => [p.pm_id, p]));
    const { report } = await loadDuring(sb.proxyUrl, async () => {
      writeApp(appFile, 2);
      await waitFor(
        'both workers restarted by the watcher',
        async () => {
          const now = (await sb.list()).filter((p) => p.name === WORKER_APP);
          return now.every((p) => {
            const old = before.get(p.pm_id);
            return (
              old &&
              p.pm2_env.status === 'online' &&
              p.pid !== old.pid &&
              p.pm2_env.restart_time > old.pm2_env.restart_time
            );
          });
        },
        60_000,
      );
      // Settled: the proxy has both back in its pool (then a second more of load).
      await allUpstreamsUp(sb.statusUrl, 2);
    });
    t.diagnostic(
      describeLoad('pm2 start ecosystem.config.cjs --env development, then a code change', report),
    );
    assert.ok(report.get.total > 0 && report.post.total > 0, 'GETs and POSTs ran');
    assert.equal(report.failed, 0, `${sb.explain(report.failedResults)}\n${sb.logs()}`);
    // Round robin over two workers: two answers in a row come from both.
    assert.deepEqual([await version(), await version()], ['2', '2']);
  });
});
