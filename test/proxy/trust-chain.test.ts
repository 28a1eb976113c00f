import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fronts, type StartedFront } from '../conformance/fronts.js';
import { request } from '../helpers/proxy.js';
import { createRawBackend, headerValue, type RawBackend, type RawRequest } from '../helpers/raw-backend.js';
import { requires } from '../helpers/system-deps.js';

/**
 * The trust chain (issue 15): fronts in a row, each started from a config read through the real
 * loader (our proxy in process, real nginx on its rendered config), a recording backend behind
 * them. The client connects from 127.0.0.2 and every front's upstream connections leave from
 * 127.0.0.1, so `trusted_proxies: [127.0.0.1/32]` tells "the front before me" from "a client".
 * Every client sends the same lies; what the backend sees says who believed them.
 */

const CLIENT = '127.0.0.2';
const FRONT = '127.0.0.1';
const SPOOFED = {
  'x-forwarded-for': '6.6.6.6',
  'x-real-ip': '6.6.6.6',
  'x-forwarded-proto': 'https',
  'x-request-id': 'spoofed-request-id',
};
/** Our proxy's ids are UUIDs; nginx's $request_id is 32 hex digits. */
const MADE_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;

interface Seen {
  forwardedFor: string | undefined;
  realIp: string | undefined;
  proto: string | undefined;
  requestId: string | undefined;
  /** The X-Request-Id the client got back. */
  answeredId: string | undefined;
}

/** One spoofed GET through `front` from `localAddress`; the forwarded headers the backend got. */
async function through(
  backend: RawBackend,
  front: StartedFront,
  localAddress: string,
  headers: Record<string, string> = SPOOFED,
): Promise<Seen> {
  const before = backend.requests.length;
  const res = await request(front.port, { path: '/trust', headers, localAddress, timeout: 10_000 });
  assert.equal(res.status, 200, res.text);
  const got: RawRequest | undefined = backend.requests[before];
  assert.ok(got, 'the backend got the request');
  const answered = res.headers['x-request-id'];
  return {
    forwardedFor: headerValue(got, 'x-forwarded-for'),
    realIp: headerValue(got, 'x-real-ip'),
    proto: headerValue(got, 'x-forwarded-proto'),
    requestId: headerValue(got, 'x-request-id'),
    // nginx adds its own X-Request-Id beside the one from behind it: the same value, twice.
    answeredId: Array.isArray(answered) ? answered[0] : answered?.split(',')[0]?.trim(),
  };
}

/** What the backend sees when the first front did not believe the client and the rest believed the front. */
function assertUnbelieved(seen: Seen, hops: number): void {
  // Every front appends its peer: the client, then each front before the last.
  assert.equal(seen.forwardedFor, ['6.6.6.6', CLIENT, ...Array(hops - 1).fill(FRONT)].join(', '));
  assert.equal(seen.realIp, CLIENT, 'X-Real-IP is the client that connected, not its claim');
  assert.equal(seen.proto, 'http', "the client's X-Forwarded-Proto is not believed");
  assert.notEqual(seen.requestId, SPOOFED['x-request-id']);
  assert.match(seen.requestId ?? '', MADE_ID, 'the first front made the id');
  assert.equal(seen.answeredId, seen.requestId, 'the client gets back the id the backend saw');
}

/** Starts each front of `chain` (client side first) over the next, the last over the backend. */
async function chainOf(
  backend: RawBackend,
  chain: ReadonlyArray<{ front: 'gatehouse' | 'nginx'; trusted: string[] }>,
): Promise<{ first: StartedFront; stop: () => Promise<void> }> {
  const started: StartedFront[] = [];
  let target = `127.0.0.1:${backend.port}`;
  try {
    for (const { front, trusted } of [...chain].reverse()) {
      const one = await fronts[front].start({ servers: [target], overrides: { trusted_proxies: trusted } });
      started.push(one);
      target = `127.0.0.1:${one.port}`;
    }
  } catch (err) {
    for (const one of started) await one.stop();
    throw err;
  }
  return {
    first: started.at(-1)!,
    stop: async () => {
      for (const one of started.reverse()) await one.stop();
    },
  };
}

describe('trust chain: our proxy behind our proxy', () => {
  let backend: RawBackend;
  let chain: Awaited<ReturnType<typeof chainOf>>;
  let inner: Awaited<ReturnType<typeof chainOf>>;

  before(async () => {
    backend = await createRawBackend({ answer: { body: 'ok\n' } });
    // B (believes nobody) → A (believes 127.0.0.1, where B's connections come from) → backend.
    chain = await chainOf(backend, [
      { front: 'gatehouse', trusted: [] },
      { front: 'gatehouse', trusted: ['127.0.0.1/32'] },
    ]);
    // A alone, for clients that reach it directly.
    inner = await chainOf(backend, [{ front: 'gatehouse', trusted: ['127.0.0.1/32'] }]);
  });
  after(async () => {
    await chain?.stop();
    await inner?.stop();
    await backend?.close();
  });

  test('a client lying to B: B believes none of it, A believes B', async () => {
    assertUnbelieved(await through(backend, chain.first, CLIENT), 2);
  });

  test('a client lying to A directly from an untrusted address: A believes none of it', async () => {
    assertUnbelieved(await through(backend, inner.first, CLIENT), 1);
  });

  test('a trusted peer talking to A directly: A believes it, realip-style', async () => {
    const seen = await through(backend, inner.first, FRONT, {
      'x-forwarded-for': `6.6.6.6, ${CLIENT}`,
      'x-real-ip': '9.9.9.9',
      'x-forwarded-proto': 'https',
      'x-request-id': 'from-a-trusted-proxy',
    });
    assert.equal(seen.forwardedFor, `6.6.6.6, ${CLIENT}, ${FRONT}`);
    // The right-most untrusted X-Forwarded-For entry; the peer's own X-Real-IP is replaced.
    assert.equal(seen.realIp, CLIENT);
    assert.equal(seen.proto, 'https');
    assert.equal(seen.requestId, 'from-a-trusted-proxy');
  });
});

describe('trust chain: real nginx and our proxy', requires('nginx'), () => {
  let backend: RawBackend;
  before(async () => {
    backend = await createRawBackend({ answer: { body: 'ok\n' } });
  });
  after(() => backend?.close());

  test('nginx (believes nobody) in front of our proxy (believes nginx)', async (t) => {
    const chain = await chainOf(backend, [
      { front: 'nginx', trusted: [] },
      { front: 'gatehouse', trusted: ['127.0.0.1/32'] },
    ]);
    t.after(() => chain.stop());
    assertUnbelieved(await through(backend, chain.first, CLIENT), 2);
  });

  test('our proxy (believes nobody) in front of nginx (believes our proxy)', async (t) => {
    const chain = await chainOf(backend, [
      { front: 'gatehouse', trusted: [] },
      { front: 'nginx', trusted: ['127.0.0.1/32'] },
    ]);
    t.after(() => chain.stop());
    assertUnbelieved(await through(backend, chain.first, CLIENT), 2);
  });

  test('a client lying to nginx directly from an untrusted address: nginx believes none of it', async (t) => {
    const chain = await chainOf(backend, [{ front: 'nginx', trusted: ['127.0.0.1/32'] }]);
    t.after(() => chain.stop());
    assertUnbelieved(await through(backend, chain.first, CLIENT), 1);
  });
});
