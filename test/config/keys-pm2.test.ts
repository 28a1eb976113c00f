import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createEcosystem, PROXY_APP, WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import { testConfig } from '../helpers/proxy.js';

/**
 * The config walk, pm2 side: the drain times reach the ecosystem. pm2 SIGKILLs a process
 * kill_timeout after asking it to stop, so a kill_timeout not derived from the process's own
 * drain time would cut a drain the config allows (test/pm2/ecosystem.test.ts checks the rest).
 */

function killTimeouts(overrides: Record<string, unknown>): { worker: number; proxy: number } {
  const { apps } = createEcosystem(testConfig(overrides));
  const killTimeout = (name: string) => apps.find((app) => app.name === name)?.kill_timeout ?? 0;
  return { worker: killTimeout(WORKER_APP), proxy: killTimeout(PROXY_APP) };
}

describe('the pm2 ecosystem follows the drain times', () => {
  test('workers.grace_period and timeouts.shutdown: pm2 waits longer than each before SIGKILL, however long they are', () => {
    for (const drain of ['1s', '45s', '5m']) {
      const ms = testConfig({ workers: { grace_period: drain } }).workers.gracePeriod;
      const { worker, proxy } = killTimeouts({
        workers: { grace_period: drain },
        timeouts: { shutdown: drain },
      });
      assert.ok(worker > ms, `worker kill_timeout ${worker} ms for a ${drain} grace period`);
      assert.ok(proxy > ms, `proxy kill_timeout ${proxy} ms for a ${drain} shutdown`);
    }
    // Each from its own key: a long worker grace period does not stretch the proxy's, nor the other way round.
    const apart = killTimeouts({ workers: { grace_period: '5m' }, timeouts: { shutdown: '1s' } });
    assert.ok(apart.worker > 300_000 && apart.proxy < 300_000, JSON.stringify(apart));
  });
});
