import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { packageRoot } from '../../config/index.js';
import { PROXY_APP, routeWorkerApp, WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import { describeLoad, loadDuring } from '../helpers/load.js';
import {
  byId,
  createPm2Sandbox,
  fetchStatus,
  freePortRange,
  type Pm2Sandbox,
  replaced,
  waitFor,
} from '../helpers/pm2.js';
import { request } from '../helpers/proxy.js';

// config/examples/two-apps.yaml under the real pm2 (the local one, a PM2_HOME of its own): the sample
// site and the WSGI hello app as two pools, each route's workers a pm2 app of their own, the proxy in
// front routing by host and path. Its ports are moved to free ones and the hello app gets two
// workers: with one, `pm2 reload` (a restart, in fork mode) would leave its pool empty for a moment.

const HELLO = '<h1>Hello World!</h1>';
const HELLO_HOST = 'hello.localhost';
const HELLO_APP = routeWorkerApp('hello');
const WORKERS = 2;

interface Route {
  name: string;
  workers?: Record<string, unknown>;
  upstream?: { servers?: { address: string }[] };
}

/** The example's routes, with the hello app's workers on `helloPort` and up and every pool pointing there. */
function exampleRoutes(helloPort: number): Route[] {
  const example = parse(readFileSync(join(packageRoot, 'config', 'examples', 'two-apps.yaml'), 'utf8')) as {
    routes: Route[];
  };
  const helloPorts = Array.from({ length: WORKERS }, (_, i) => helloPort + i);
  return example.routes.map((route) => {
    if (route.name === 'hello')
      return {
        ...route,
        // Absolute: pm2 starts the workers from the package root, the example says it relative to it.
        workers: {
          ...route.workers,
          count: WORKERS,
          port: helloPort,
          app: join(packageRoot, String(route.workers?.app)),
        },
      };
    if (route.upstream?.servers)
      return {
        ...route,
        upstream: {
          ...route.upstream,
          servers: helloPorts.map((port) => ({ address: `127.0.0.1:${port}` })),
        },
      };
    return route;
  });
}

describe('pm2 start/reload ecosystem.config.cjs with two apps (config/examples/two-apps.yaml)', {
  timeout: 120_000,
}, () => {
  let sb: Pm2Sandbox;
  let helloPort = 0;

  before(async () => {
    helloPort = await freePortRange(WORKERS);
    sb = await createPm2Sandbox({
      workers: WORKERS,
      config: { routes: exampleRoutes(helloPort), access_log: { path: 'off' }, log_level: 'warn' },
    });
  });

  // The daemon and everything it started go, pass or fail.
  after(() => sb?.destroy());

  /** Every pool of every route has all its upstreams up, as the proxy sees it. */
  function allPoolsUp(): Promise<true> {
    return waitFor(
      'every upstream of every route up',
      async () => {
        const snapshot = await fetchStatus(sb.statusUrl);
        const up = (route: string) =>
          snapshot?.upstreams.filter((u) => u.route === route && u.state === 'up').length ?? 0;
        // The site route's pool is the top-level one, which the status page calls "default".
        if (up('default') === WORKERS && up('hello') === WORKERS && up('hello-api') === WORKERS) return true;
        throw new Error(
          snapshot
            ? snapshot.upstreams.map((u) => `${u.route} ${u.address} ${u.state}`).join('; ')
            : 'status page unreachable',
        );
      },
      30_000,
    );
  }

  test('pm2 start: a worker app per route comes up, and the proxy routes by host and by path to each', async () => {
    const started = await sb.pm2(['start', 'ecosystem.config.cjs', '--env', 'production']);
    assert.equal(started.code, 0, `${started.stdout}\n${started.stderr}`);
    await sb.waitOnline(WORKER_APP, WORKERS);
    const hello = await sb.waitOnline(HELLO_APP, WORKERS);
    await sb.waitOnline(PROXY_APP, 1);
    assert.deepEqual(
      hello.map((p) => p.pm2_env.GATEHOUSE_WORKER_PORT_BASE).map(Number),
      [helloPort, helloPort],
      "the hello app's workers count from its own port",
    );
    await allPoolsUp();

    const port = Number(new URL(sb.proxyUrl).port);
    const site = await request(port, { path: '/' });
    assert.equal(site.status, 200);
    assert.doesNotMatch(site.text, /Hello World!/, 'any other host: the sample site');
    const byHost = await request(port, { path: '/', headers: { host: HELLO_HOST } });
    assert.equal(byHost.status, 200);
    assert.equal(byHost.text, HELLO, `${HELLO_HOST}: the hello app`);
    const byPath = await request(port, { path: '/hello/x' });
    assert.equal(byPath.status, 200);
    assert.equal(byPath.text, HELLO, '/hello/ on the site host: the hello app, prefix stripped');
    const old = await request(port, { path: '/old/signin' });
    assert.equal(old.status, 308);
    assert.equal(old.headers.location, '/signin');
  });

  test('pm2 reload ecosystem.config.cjs under load loses no request on either route', async (t) => {
    await allPoolsUp();
    const list = await sb.list();
    const apps = [WORKER_APP, HELLO_APP, PROXY_APP];
    const before = apps.map((app) => [app, byId(list, app)] as const);
    const load = { connections: 4, warmup: 500, cooldown: 1000, settle: 30 };
    // Two loads at once: the site (GET / and POST /echo, every echo checked) and the hello app by
    // its host (every body checked), the site's around the hello app's around the reload.
    const { report: siteReport, value: helloReport } = await loadDuring(
      sb.proxyUrl,
      async () => {
        const { report } = await loadDuring(
          sb.proxyUrl,
          async () => {
            const reloaded = await sb.pm2(['reload', 'ecosystem.config.cjs', '--env', 'production']);
            assert.equal(reloaded.code, 0, `${reloaded.stdout}\n${reloaded.stderr}`);
            for (const [app, processes] of before) await replaced(sb, app, processes);
            await allPoolsUp();
          },
          { ...load, host: HELLO_HOST, getOnly: true, getBody: HELLO },
        );
        return report;
      },
      load,
    );
    t.diagnostic(describeLoad('pm2 reload, the site', siteReport));
    t.diagnostic(describeLoad(`pm2 reload, ${HELLO_HOST}`, helloReport));
    assert.ok(siteReport.get.total > 0 && siteReport.post.total > 0 && helloReport.get.total > 0, 'load ran');
    assert.equal(siteReport.failed, 0, `the site\n${sb.explain(siteReport.failedResults)}\n${sb.logs()}`);
    assert.equal(
      helloReport.failed,
      0,
      `${HELLO_HOST}\n${sb.explain(helloReport.failedResults)}\n${sb.logs()}`,
    );
  });

  test('pm2 delete ecosystem.config.cjs stops every app of every route', async () => {
    const deleted = await sb.pm2(['delete', 'ecosystem.config.cjs']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(await sb.list(), []);
  });
});
