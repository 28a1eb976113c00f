import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig, packageRoot } from '../../config/index.js';
import { createEcosystem, PROXY_APP, WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import { PORT_BASE_VAR } from '../../stack/worker-port.js';
import { request } from '../helpers/proxy.js';
import { startWorker } from '../helpers/worker-process.js';

const TWO_APPS = join(packageRoot, 'config', 'examples', 'two-apps.yaml');

describe('the pm2 ecosystem with routes', () => {
  test('a route with workers of its own gets its own worker app: its count, its ports, started with --route', () => {
    const { apps } = createEcosystem(loadConfig({ file: TWO_APPS, env: {} }));
    assert.deepEqual(
      apps.map((app) => app.name),
      [WORKER_APP, `${WORKER_APP}-hello`, PROXY_APP],
    );
    const hello = apps[1]!;
    assert.deepEqual(hello.args, ['worker', '--route', 'hello']);
    assert.equal(hello.instances, 1);
    assert.equal(hello.env[PORT_BASE_VAR], '8101');
    assert.equal(hello.env.GATEHOUSE_CONFIG, TWO_APPS);
    // Routes whose pools list servers (hello-api) start nothing.
    assert.equal(apps.filter((app) => app.name.startsWith(WORKER_APP)).length, 2);
  });

  test('gatehouse worker --route serves the app that route names (the WSGI hello app), not the sample site', async (t) => {
    const worker = await startWorker({ config: TWO_APPS, args: ['--route', 'hello'] });
    t.after(() => worker.stop());
    const answer = await request(worker.port, { path: '/anything' });
    assert.equal(answer.status, 200);
    assert.match(answer.text, /Hello World!/);
  });
});
