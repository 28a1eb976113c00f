import assert from 'node:assert/strict';
import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { allUpstreamsUp, createPm2Sandbox, type Pm2Sandbox, run } from '../helpers/pm2.js';

/** The first `pm2` on PATH that is not this package's own (node_modules/.bin), or null. */
function globalPm2(): string | null {
  const local = join(packageRoot, 'node_modules');
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'pm2');
    try {
      accessSync(candidate, constants.X_OK);
      if (!realpathSync(candidate).startsWith(local)) return candidate;
    } catch {}
  }
  return null;
}

const pm2 = globalPm2();

describe('a global pm2 (`pm2 start ecosystem.config.cjs`, as users type it)', { timeout: 120_000 }, () => {
  let sb: Pm2Sandbox | undefined;
  after(() => sb?.destroy());

  test('starts the workers and the proxy from the repo root, and the site answers through the proxy', {
    skip: pm2 ? false : 'no global pm2 on PATH (.ci/run installs one: npm install -g pm2)',
  }, async () => {
    sb = await createPm2Sandbox({ workers: 2, config: { access_log: { path: 'off' } } });
    const started = await run(pm2!, ['start', 'ecosystem.config.cjs'], { env: sb.env, cwd: packageRoot });
    assert.equal(started.code, 0, `${started.stdout}\n${started.stderr}`);
    const workers = await sb.waitOnline('gatehouse-worker', 2);
    await sb.waitOnline('gatehouse-proxy', 1);
    assert.deepEqual(workers.map((p) => String(p.pm2_env.PORT)).sort(), sb.workerPorts.map(String).sort());
    await allUpstreamsUp(sb.statusUrl, 2);
    const home = await fetch(`${sb.proxyUrl}/`);
    assert.equal(home.status, 200);
    assert.match(await home.text(), /gatehouse/i);
  });
});
