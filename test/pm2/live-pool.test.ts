import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../config/index.js';
import type { Pm2ProcessInfo } from '../../deploy/pm2/daemon.js';
import { withLivePool } from '../../deploy/pm2/live-pool.js';
import { renderNginx } from '../../nginx/render.js';
import { testDoc } from '../helpers/proxy.js';

function proc(
  pmId: number,
  instance: number,
  port: number,
  overrides: Partial<Pm2ProcessInfo> = {},
): Pm2ProcessInfo {
  return {
    name: 'gatehouse-worker',
    pmId,
    pid: 100 + pmId,
    status: 'online',
    restarts: 0,
    memory: null,
    startedAt: null,
    port,
    host: '127.0.0.1',
    instance,
    ...overrides,
  };
}

const config = parseConfig(testDoc({ workers: { count: 2, port: 8001 } }), null);

describe('withLivePool (gatehouse nginx --from-pm2)', () => {
  test('the pool becomes the online workers pm2 runs, in instance order, with the config’s limits', () => {
    const live = withLivePool(config, [
      proc(4, 3, 8004),
      proc(3, 2, 8003),
      proc(5, 4, 8005, { status: 'stopping' }),
      proc(6, 0, 8080, { name: 'gatehouse-proxy' }),
    ]);
    assert.deepEqual(
      live.upstream.servers.map((s) => s.address),
      ['127.0.0.1:8003', '127.0.0.1:8004'],
    );
    assert.equal(live.upstream.servers[0]!.maxFails, config.upstream.maxFails);
    const text = renderNginx(live, { target: 'host', fromPm2: true });
    assert.match(text, /server 127\.0\.0\.1:8003 weight=1/);
    assert.match(text, /server 127\.0\.0\.1:8004 weight=1/);
    assert.doesNotMatch(text, /127\.0\.0\.1:8001/);
    assert.match(text, /--from-pm2/);
    assert.match(text, /after `pm2 scale`, render again/);
  });

  test('no online worker, or a config with servers of its own: an error saying so', () => {
    assert.throws(
      () => withLivePool(config, [proc(1, 0, 8001, { status: 'errored' })]),
      /no online gatehouse-worker/,
    );
    const own = parseConfig(testDoc({ upstream: { servers: [{ address: '127.0.0.1:9000' }] } }), null);
    assert.throws(() => withLivePool(own, [proc(1, 0, 8001)]), /lists its own upstream servers/);
  });
});
