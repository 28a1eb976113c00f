import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { allUpstreamsUp, createPm2Sandbox, type Pm2Sandbox, run, workerPortOf } from '../helpers/pm2.js';
import { globalPm2, requires } from '../helpers/system-deps.js';

const pm2 = globalPm2();

describe('a global pm2 (`pm2 start ecosystem.config.cjs`, as users type it)', {
  ...requires('pm2'),
  timeout: 120_000,
}, () => {
  let sb: Pm2Sandbox | undefined;
  after(() => sb?.destroy());

  test('starts the workers and the proxy from the repo root, and the site answers through the proxy', async () => {
    sb = await createPm2Sandbox({ workers: 2, config: { access_log: { path: 'off' } } });
    const started = await run(pm2!, ['start', 'ecosystem.config.cjs'], { env: sb.env, cwd: packageRoot });
    assert.equal(started.code, 0, `${started.stdout}\n${started.stderr}`);
    const workers = await sb.waitOnline('gatehouse-worker', 2);
    await sb.waitOnline('gatehouse-proxy', 1);
    assert.deepEqual(workers.map((p) => String(workerPortOf(p))).sort(), sb.workerPorts.map(String).sort());
    await allUpstreamsUp(sb.statusUrl, 2);
    const home = await fetch(`${sb.proxyUrl}/`);
    assert.equal(home.status, 200);
    assert.match(await home.text(), /gatehouse/i);
  });
});
