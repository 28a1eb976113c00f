import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import {
  type Cleanup,
  eventually,
  head,
  request,
  servers,
  startBlackhole,
  startProxy,
} from '../helpers/proxy.js';
import { createRawBackend, type RawBackend } from '../helpers/raw-backend.js';

/**
 * How late a timeout may fire: a loaded machine delays a timer rarely more than this (300 ms was
 * exceeded once, on a CI machine with other heavy work beside it); still well short of the next
 * attempt's whole timeout, so a timer shared across attempts or armed twice shows. And how early
 * it may look: the proxy arms its timer on the event loop's cached clock, a few ms behind a clock
 * read later in the same turn.
 */
const LATE_MS = 1000;
const EARLY_MS = 25;

function assertOnTime(t: TestContext, elapsed: number, timeout: number, what: string): void {
  t.diagnostic(`${what}: fired after ${Math.round(elapsed)} ms`);
  assert.ok(
    elapsed >= timeout - EARLY_MS && elapsed <= timeout + LATE_MS,
    `${what}: fired after ${Math.round(elapsed)} ms, expected within [${timeout}, ${timeout + LATE_MS}] ms`,
  );
}

async function silentBackend(t: Cleanup, name: string): Promise<RawBackend> {
  const backend = await createRawBackend({ name, answer: 'silence' });
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

/**
 * A POST of `length` bytes written 1 MiB at a time with backpressure, until the proxy answers.
 * Resolves with the status and how long after the client's last write progress the answer came:
 * the proxy stops taking the body when the upstream's socket fills (its send timer starts then),
 * and the client's writes stop a few ms later, once the few MB of buffers between are full.
 */
function uploadUntilAnswered(port: number, length: number): Promise<{ status: number; elapsed: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    let sent = 0;
    let progress = 0;
    let answered = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer within 30 s'));
    }, 30_000);
    const write = () => {
      progress = performance.now();
      while (!answered && sent < length) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', write);
      }
    };
    socket.on('error', () => {});
    socket.on('connect', () => {
      socket.write(head('POST /upload HTTP/1.1', 'Host: a', `Content-Length: ${length}`));
      write();
    });
    socket.once('data', (data: Buffer) => {
      answered = true;
      clearTimeout(timer);
      socket.destroy();
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1'))?.[1] ?? 0);
      resolve({ status, elapsed: performance.now() - progress });
    });
  });
}

describe('upstream timeouts fire on time (within a second of their value), per attempt', () => {
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

  test('send: 2 s and 5 s — a worker that stops reading the body gets its request cut, 504', async (t) => {
    await Promise.all(
      [2000, 5000].map(async (send) => {
        const stalled = await createRawBackend({ name: 'stalled', reads: false });
        t.after(() => stalled.close());
        const proxy = await startProxy(t, {
          upstream: { servers: servers(stalled.port) },
          client_max_body_size: '256m',
          // Longer than the test: only the send timeout may end this request.
          timeouts: { send: `${send}ms`, read: '30s' },
        });
        const { status, elapsed } = await uploadUntilAnswered(proxy.port, 256 * 1024 * 1024);
        assert.equal(status, 504);
        assertOnTime(t, elapsed, send, `send ${send} ms`);
        const logged = await proxy.waitForLog((l) => l.code === 'GH_ERR_UPSTREAM_SEND_TIMEOUT');
        assert.equal(logged.status, 504);
      }),
    );
  });
});
