import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { type Cleanup, eventually, request, servers, startBlackhole, startProxy } from '../helpers/proxy.js';
import { createRawBackend, type RawBackend } from '../helpers/raw-backend.js';

/**
 * How late a timeout may fire: a loaded machine delays a timer rarely more than this. And how
 * early it may look: the proxy arms its timer on the event loop's cached clock, a few ms behind a
 * clock read later in the same turn.
 */
const LATE_MS = 300;
const EARLY_MS = 25;

function assertOnTime(t: TestContext, elapsed: number, timeout: number, what: string): void {
  t.diagnostic(`${what}: fired after ${Math.round(elapsed)} ms`);
  assert.ok(
    elapsed >= timeout - EARLY_MS && elapsed <= timeout + LATE_MS,
    `${what}: fired after ${Math.round(elapsed)} ms, expected within [${timeout}, ${timeout + LATE_MS}] ms`,
  );
}

async function silentBackend(t: Cleanup, name: string): Promise<RawBackend> {
  const backend = await createRawBackend({ name, answer: 'silent' });
  t.after(() => backend.close());
  return backend;
}

/** How long after its one request arrived the proxy closed the backend's connection. */
async function cutAfter(backend: RawBackend): Promise<number> {
  assert.equal(backend.requests.length, 1, `${backend.name} got ${backend.requests.length} requests`);
  const received = backend.requests[0]!;
  const closed = () => backend.closedAt[received.connection - 1];
  assert.ok(await eventually(() => closed() !== undefined, 2000), `${backend.name}: connection left open`);
  return closed()! - received.receivedAt;
}

describe('upstream timeouts fire within 300 ms of their value, per attempt', () => {
  test('read: 2 s with one retry, and 5 s — each attempt is cut after its read timeout', async (t) => {
    const setups = await Promise.all(
      [
        { read: 2000, tries: 2 },
        { read: 5000, tries: 1 },
      ].map(async ({ read, tries }) => {
        const backends = await Promise.all(['a', 'b'].slice(0, tries).map((n) => silentBackend(t, n)));
        const proxy = await startProxy(t, {
          upstream: { servers: servers(...backends.map((b) => b.port)) },
          timeouts: { read: `${read}ms` },
          retries: { tries },
        });
        return { read, backends, proxy };
      }),
    );
    await Promise.all(
      setups.map(async ({ read, backends, proxy }) => {
        const reply = await request(proxy.port, { path: '/never', timeout: 30_000 });
        assert.equal(reply.status, 504);
        for (const backend of backends) assertOnTime(t, await cutAfter(backend), read, `read ${read} ms`);
      }),
    );
  });

  test('connect: 2 s and 5 s — 504 after the connect timeout', async (t) => {
    const blackhole = await startBlackhole();
    t.after(() => blackhole.close());
    await Promise.all(
      [2000, 5000].map(async (connectTimeout) => {
        const proxy = await startProxy(t, {
          upstream: { servers: servers(blackhole.port) },
          timeouts: { connect: `${connectTimeout}ms` },
          retries: { tries: 1 },
        });
        const started = performance.now();
        const reply = await request(proxy.port, { path: '/', timeout: 30_000 });
        assert.equal(reply.status, 504);
        assertOnTime(t, performance.now() - started, connectTimeout, `connect ${connectTimeout} ms`);
      }),
    );
  });
});
