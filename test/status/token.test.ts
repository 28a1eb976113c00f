import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, isLoopbackHost, loadConfig, parseConfig } from '../../config/index.js';
import { renderNginx } from '../../nginx/render.js';
import { authorized } from '../../proxy/status/server.js';
import { conformanceConfig } from '../conformance/fronts.js';
import { freePort, startNginx } from '../helpers/nginx.js';
import { request, servers, startProxy, testDoc } from '../helpers/proxy.js';
import { createRawBackend } from '../helpers/raw-backend.js';
import { requires } from '../helpers/system-deps.js';

const TOKEN = 'correct-horse-battery-staple';

/** The problems a config document is refused with, as `key: message` lines; [] when accepted. */
function problems(overrides: Record<string, unknown>): string[] {
  try {
    parseConfig(testDoc(overrides), null);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('status.token in the loader', () => {
  test('loopback hosts need no token; any other host does', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '127.255.0.9', '::1', 'localhost', 'LOCALHOST'])
      assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', '192.168.1.2'])
      assert.equal(isLoopbackHost(host), false, host);
  });

  test('a status.listen off loopback without status.token is refused, with the other problems', () => {
    const found = problems({ status: { listen: '0.0.0.0:8081' }, instances: 0 });
    assert.equal(found.length, 2, found.join('\n'));
    assert.match(found.find((p) => p.startsWith('status.token:')) ?? '', /0\.0\.0\.0:8081.*not a loopback/);
    assert.ok(found.some((p) => p.startsWith('instances:')));
    assert.deepEqual(problems({ status: { listen: '[::]:8081', token: TOKEN } }), []);
    assert.deepEqual(problems({ status: { listen: '[::1]:8081' } }), []);
  });

  test('a token is 16 or more printable characters without spaces', () => {
    assert.match(problems({ status: { token: 'short' } }).join('\n'), /^status\.token:/);
    assert.match(problems({ status: { token: 'has a space in the middle' } }).join('\n'), /^status\.token:/);
    assert.deepEqual(problems({ status: { token: TOKEN } }), []);
  });

  test('GATEHOUSE_STATUS_TOKEN sets status.token, over the file', () => {
    assert.equal(loadConfig({ env: {} }).status.token, null);
    assert.equal(loadConfig({ env: { GATEHOUSE_STATUS_TOKEN: TOKEN } }).status.token, TOKEN);
    // An empty variable is no token (compose passes `${VAR:-}` as "").
    assert.equal(loadConfig({ env: { GATEHOUSE_STATUS_TOKEN: '' } }).status.token, null);
  });

  test('GATEHOUSE_STATUS_TOKEN does not turn a file that is not a mapping into a good one', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-token-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'list.yaml');
    writeFileSync(file, '- listen\n- 8080\n');
    assert.throws(() => loadConfig({ file, env: { GATEHOUSE_STATUS_TOKEN: TOKEN } }), ConfigError);
  });
});

describe('status.token on the status listener', () => {
  test('authorized: only the exact bearer token passes', () => {
    assert.equal(authorized(`Bearer ${TOKEN}`, TOKEN), true);
    assert.equal(authorized(`bearer ${TOKEN}`, TOKEN), true);
    assert.equal(authorized(undefined, TOKEN), false);
    assert.equal(authorized('Bearer', TOKEN), false);
    assert.equal(authorized(`Bearer ${TOKEN}x`, TOKEN), false);
    assert.equal(authorized(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN), false);
    assert.equal(authorized(`Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`, TOKEN), false);
  });

  test('status.token: the running proxy answers /status and /metrics only with Authorization: Bearer <token>; /healthz needs none', async (t) => {
    const backend = await createRawBackend();
    t.after(() => backend.close());
    // 0.0.0.0 is allowed because a token is set; the test connects over loopback.
    const proxy = await startProxy(t, {
      status: { listen: '0.0.0.0:0', token: TOKEN },
      upstream: { servers: servers(backend.port) },
    });
    const bearer = { authorization: `Bearer ${TOKEN}` };
    for (const path of ['/status', '/status?format=json', '/metrics', '/', '/nothing-here']) {
      const denied = await request(proxy.statusPort, { path });
      assert.equal(denied.status, 401, path);
      assert.equal(denied.headers['www-authenticate'], 'Bearer realm="gatehouse status"', path);
      assert.doesNotMatch(denied.text, /upstream|127\.0\.0\.1/, `${path} tells nothing`);
      const wrong = await request(proxy.statusPort, {
        path,
        headers: { authorization: `Bearer ${TOKEN}-not` },
      });
      assert.equal(wrong.status, 401, path);
    }
    // No `?token=`: URLs end up in histories and logs.
    assert.equal((await request(proxy.statusPort, { path: `/status?token=${TOKEN}` })).status, 401);
    assert.equal((await request(proxy.statusPort, { path: '/status', headers: bearer })).status, 200);
    const metrics = await request(proxy.statusPort, { path: '/metrics', headers: bearer });
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, new RegExp(`127\\.0\\.0\\.1:${backend.port}`));
    const health = await request(proxy.statusPort, { path: '/healthz' });
    assert.deepEqual([health.status, health.text], [200, 'ok\n']);
    // The client listener is not the status listener: the token plays no part there.
    assert.equal((await request(proxy.port, { path: '/' })).status, 200);
  });

  test('without status.token the loopback status listener asks for nothing', async (t) => {
    const backend = await createRawBackend();
    t.after(() => backend.close());
    const proxy = await startProxy(t, { upstream: { servers: servers(backend.port) } });
    assert.equal((await request(proxy.statusPort, { path: '/status' })).status, 200);
    assert.equal((await request(proxy.statusPort, { path: '/healthz' })).status, 200);
  });
});

describe('status.token on nginx', requires('nginx'), () => {
  test('the rendered status server asks for the same bearer token, on top of allow/deny', async (t) => {
    const backend = await createRawBackend();
    t.after(() => backend.close());
    const [port, statusPort] = [await freePort(), await freePort()];
    const config = conformanceConfig({ port, statusPort }, [`127.0.0.1:${backend.port}`], {
      status: { token: TOKEN },
    });
    const nginx = await startNginx({ snippet: renderNginx(config, { target: 'host' }), port });
    t.after(() => nginx.stop());
    const denied = await request(statusPort, { path: '/status' });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers['www-authenticate'], 'Bearer');
    const wrong = await request(statusPort, {
      path: '/status',
      headers: { authorization: `Bearer ${TOKEN}x` },
    });
    assert.equal(wrong.status, 401);
    const allowed = await request(statusPort, {
      path: '/status',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(allowed.status, 200);
    assert.match(allowed.text, /Active connections/);
  });
});
