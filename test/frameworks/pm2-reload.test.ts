import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import { describeLoad, loadDuring } from '../helpers/load.js';
import {
  allUpstreamsUp,
  byId,
  createPm2Sandbox,
  type Pm2Sandbox,
  replaced,
  startStack,
} from '../helpers/pm2.js';
import { json, request } from '../helpers/proxy.js';
import { exampleApp, type Framework } from './suite.js';

/**
 * `pm2 reload` under load with the framework examples as workers.app, all in one pm2 sandbox (one
 * daemon start for the four). A worker reads workers.app when it starts, so a reload after the
 * config file changed brings that framework's example up while the old one drains, and the pool
 * serves two frameworks side by side meanwhile (every example answers GET / and POST /echo, the
 * load's requests). Both workers start on Express; each step reloads one worker onto the next
 * framework, so every example takes part in a reload under load: Express and Fastify drain in one,
 * Fastify, Koa and Hono start in one (every example's drain under load on its own: the SIGTERM
 * test in suite.ts). Three steps: each costs seconds of pm2's own on a busy machine.
 *
 * One worker per reload (`pm2 reload <pm_id>`), none reloaded more than twice: the proxy's pm2
 * pool source counts one of the two `exit` events pm2 sends per reloaded process as a crash, and
 * an instance with three within 30 s is left out of the pool as crash-looping; three `pm2 reload
 * gatehouse-worker` in a row leave the pool empty (every request 502) until the window passes.
 */
const START: Framework = 'express';
const STEPS: Array<{ framework: Framework; instance: number; from: Framework }> = [
  { framework: 'fastify', instance: 0, from: 'express' },
  { framework: 'koa', instance: 1, from: 'express' },
  { framework: 'hono', instance: 0, from: 'fastify' },
];

describe('pm2 reload under load with the framework examples as the app', { timeout: 240_000 }, () => {
  let sb: Pm2Sandbox;
  /** What each worker (by instance) serves now. */
  const serving: Framework[] = [START, START];

  /** Points workers.app at a framework's example; workers started from now on serve it. */
  function serve(framework: Framework): void {
    const doc = JSON.parse(readFileSync(sb.configFile, 'utf8')) as { workers: Record<string, unknown> };
    doc.workers.app = exampleApp(framework);
    writeFileSync(sb.configFile, JSON.stringify(doc, null, 2));
  }

  before(async () => {
    sb = await createPm2Sandbox({
      workers: 2,
      // Quiet logs keep a loaded CI box busy with requests, not with writing log files.
      config: { access_log: { path: 'off' }, log_level: 'warn' },
    });
    serve(START);
    await startStack(sb, 2);
  });

  // The daemon and everything it started go, pass or fail.
  after(() => sb?.destroy());

  for (const { framework, instance, from } of STEPS) {
    test(`pm2 reload of worker ${instance} from the ${from} example to the ${framework} example: no request fails`, async (t) => {
      assert.equal(serving[instance], from, 'the steps run in order');
      await allUpstreamsUp(sb.statusUrl, 2);
      serve(framework);
      const worker = [...byId(await sb.list(), WORKER_APP)].find(
        ([, p]) => Number(p.pm2_env.NODE_APP_INSTANCE) === instance,
      );
      assert.ok(worker, `pm2 runs instance ${instance}`);
      const { report } = await loadDuring(
        sb.proxyUrl,
        async () => {
          const reload = await sb.pm2(['reload', String(worker[0])]);
          assert.equal(reload.code, 0, reload.stderr);
          await replaced(sb, WORKER_APP, new Map([worker]));
        },
        // A few connections keep requests on both workers all along and leave the two cores to
        // the reload itself.
        { connections: 4, warmup: 500, cooldown: 500, settle: 20 },
      );
      t.diagnostic(describeLoad(`pm2 reload ${from} → ${framework}`, report));
      assert.ok(report.get.total > 0 && report.post.total > 0, 'GETs and POSTs ran');
      assert.equal(report.failed, 0, `${sb.explain(report.failedResults)}\n${sb.logs()}`);
      serving[instance] = framework;
      // Each worker serves what it should: the reloaded one the new example, the other the old.
      for (const [i, port] of sb.workerPorts.entries()) {
        const whoami = await request(port, { path: '/whoami' });
        assert.equal(json<{ framework: string }>(whoami).framework, serving[i], `worker ${i} on ${port}`);
      }
    });
  }
});
