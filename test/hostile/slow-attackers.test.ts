import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { eventually, request, servers, startProxyProcess } from '../helpers/proxy.js';
import { createRecordingBackend } from './recording-backend.js';
import { type AttackKind, normalClient, openAttackers } from './slow-attackers.js';

const ATTACKERS = 1000;
/** Short client timeouts, so the attackers are cut within seconds. */
const TIMEOUT_MS: Record<AttackKind, number> = {
  slowloris: 3000, // client_header
  silent: 3000, // client_header
  'slow-body': 2000, // client_body
  'idle-keepalive': 2000, // client_keepalive
};
/** Generous: a loaded 2-core machine may be late to notice a timeout, never early. */
const LATE_MARGIN_MS = 15_000;

describe('slow and idle attackers', () => {
  test(`${ATTACKERS} slowloris, slow-body, silent and idle keep-alive connections: a normal client is still answered, each attacker is cut by its timeout, fds come back`, async (t) => {
    const backend = await createRecordingBackend();
    t.after(() => backend.close());
    const proxy = await startProxyProcess(t, {
      config: {
        upstream: { servers: servers(backend.port), keepalive_timeout: '1s' },
        timeouts: { client_header: '3s', client_body: '2s', client_keepalive: '2s' },
      },
    });
    const fds = () => readdirSync(`/proc/${proxy.pid}/fd`).length;
    const baseline = fds();

    const attackers = openAttackers(proxy.port, ATTACKERS);
    t.after(() => {
      for (const attacker of attackers) attacker.stop();
    });
    const armed = await eventually(() => attackers.every((a) => a.armedAt() !== null), 30_000);
    assert.ok(armed, `${attackers.filter((a) => a.armedAt() === null).length} attackers never got going`);
    const stillOpen = new Set(attackers);
    for (const attacker of attackers) void attacker.closed.then(() => stillOpen.delete(attacker));
    const openAtStart = stillOpen.size;

    // With them all open: every normal request answered within 5 s (a bound, not a speed figure).
    const latencies = await normalClient(
      async () => (await request(proxy.port, { path: '/normal', timeout: 5000 })).status,
      { count: 20 },
    );
    assert.equal(latencies.length, 20);
    t.diagnostic(
      `normal client: ${openAtStart} attackers open at its first request, slowest ${Math.round(Math.max(...latencies))} ms`,
    );

    // Every attacker cut by its own timeout: not before it, and not long after it.
    const cut = await Promise.race([
      Promise.all(attackers.map((a) => a.closed)),
      new Promise<null>((resolve) => setTimeout(resolve, 3000 + LATE_MARGIN_MS + 5000, null).unref()),
    ]);
    if (!cut) {
      const kinds = [...new Set([...stillOpen].map((a) => a.kind))].join(', ');
      assert.fail(`${stillOpen.size} attackers still open well past their timeouts: ${kinds}`);
    }
    for (const [i, attacker] of attackers.entries()) {
      const lasted = cut[i]! - attacker.armedAt()!;
      const timeout = TIMEOUT_MS[attacker.kind];
      assert.ok(
        lasted >= timeout - 100,
        `#${i} ${attacker.kind} cut after ${lasted} ms, before its ${timeout} ms timeout`,
      );
      assert.ok(
        lasted <= timeout + LATE_MARGIN_MS,
        `#${i} ${attacker.kind} lasted ${lasted} ms (timeout ${timeout} ms)`,
      );
    }
    assert.equal(proxy.child.exitCode, null, `the proxy exited\n${proxy.describe()}`);
    assert.deepEqual(proxy.crashes(), []);
    assert.equal((await request(proxy.port, { path: '/after' })).status, 200);
    const back = await eventually(() => fds() <= baseline, 30_000, 200);
    assert.ok(back, `the proxy holds ${fds()} fds, ${baseline} before the attack`);
  });
});
