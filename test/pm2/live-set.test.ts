import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { PROXY_APP, WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import { startNginx } from '../helpers/nginx.js';
import {
  allUpstreamsUp,
  createPm2Sandbox,
  ecosystemFile,
  freePortRange,
  type Pm2Sandbox,
  run,
  workerPortOf,
} from '../helpers/pm2.js';
import { requires } from '../helpers/system-deps.js';

const gatehouse = join(packageRoot, 'bin', 'gatehouse.js');

/**
 * After `pm2 scale`, the live worker set is what every view shows: the proxy's pool (its pm2
 * source), `gatehouse status`, and nginx rendered with `gatehouse nginx --from-pm2`.
 */
describe('the live pm2 worker set after pm2 scale', { ...requires('nginx'), timeout: 120_000 }, () => {
  let sb: Pm2Sandbox;
  let ports: number[];

  before(async () => {
    sb = await createPm2Sandbox({ workers: 2, config: { access_log: { path: 'off' }, log_level: 'warn' } });
    const started = await sb.pm2(['start', ecosystemFile]);
    assert.equal(started.code, 0, `${started.stdout}\n${started.stderr}`);
    await sb.waitOnline(PROXY_APP, 1);
    await sb.waitOnline(WORKER_APP, 2);
    const scaled = await sb.pm2(['scale', WORKER_APP, '3']);
    assert.equal(scaled.code, 0, `${scaled.stdout}\n${scaled.stderr}`);
    const workers = await sb.waitOnline(WORKER_APP, 3);
    ports = workers.map(workerPortOf).sort((a, b) => a - b);
    await allUpstreamsUp(sb.statusUrl, 3);
  });

  after(() => sb?.destroy());

  test('the third worker listens on workers.port + 2 and gatehouse status lists all three as pm2 and the proxy see them', async () => {
    assert.deepEqual(ports, [sb.workerPorts[0], sb.workerPorts[1], sb.workerPorts[1]! + 1]);
    const { code, stdout, stderr } = await run(
      process.execPath,
      [gatehouse, 'status', '--pm2-home', sb.home],
      {
        env: sb.env,
      },
    );
    assert.equal(code, 0, stderr);
    for (const port of ports) {
      const row = stdout.split('\n').find((line) => line.includes(` ${port} `));
      assert.ok(row, `a row for port ${port}:\n${stdout}`);
      assert.match(row, /online .* up +yes/, row);
    }
  });

  test('gatehouse nginx --from-pm2 renders the three, and real nginx balances over all of them', async (t) => {
    // nginx listens on ports of its own; the workers part of the config is the sandbox's.
    const base = await freePortRange(2);
    const configFile = join(sb.home, '..', 'nginx-front.yaml');
    const sandboxConfig = JSON.parse(readFileSync(sb.configFile, 'utf8')) as Record<string, unknown>;
    const front = { listen: `127.0.0.1:${base}`, status: { listen: `127.0.0.1:${base + 1}` } };
    writeFileSync(configFile, JSON.stringify({ ...sandboxConfig, ...front }));
    const rendered = await run(
      process.execPath,
      [gatehouse, 'nginx', '--config', configFile, '--from-pm2', '--pm2-home', sb.home],
      { env: sb.env },
    );
    assert.equal(rendered.code, 0, rendered.stderr);
    for (const port of ports) assert.match(rendered.stdout, new RegExp(`server 127\\.0\\.0\\.1:${port} `));
    const nginx = await startNginx({ snippet: rendered.stdout, port: base });
    t.after(() => nginx.stop());
    const answered = new Set<number>();
    for (let i = 0; i < 30 && answered.size < 3; i++) {
      const res = await fetch(`http://127.0.0.1:${base}/headers`);
      assert.equal(res.status, 200, nginx.errors());
      const body = (await res.json()) as { worker: { port: number } };
      answered.add(body.worker.port);
    }
    assert.deepEqual(
      [...answered].sort((a, b) => a - b),
      ports,
    );
  });

  test('--from-pm2 with no daemon at the home: exit 1 and a line saying so', async () => {
    const { code, stderr } = await run(
      process.execPath,
      [gatehouse, 'nginx', '--config', sb.configFile, '--from-pm2', '--pm2-home', join(sb.home, 'nowhere')],
      { env: sb.env },
    );
    assert.equal(code, 1);
    assert.match(stderr, /no pm2 daemon runs at .*nowhere/);
  });
});
