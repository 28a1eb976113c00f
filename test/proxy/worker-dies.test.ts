import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type HttpResult,
  head,
  type RequestOptions,
  rawExchange,
  request,
  servers,
  startProxy,
} from '../helpers/proxy.js';
import { createRawBackend, type RawAnswer, type RawBackend } from '../helpers/raw-backend.js';

type Cleanup = { after(fn: () => unknown): void };

async function backend(t: Cleanup, name: string, answer: RawAnswer = {}): Promise<RawBackend> {
  const created = await createRawBackend({ name, answer });
  t.after(() => created.close());
  return created;
}

/** The worker's head goes out, then it dies before a byte of its body: what kill -9 does between the two. */
const HEAD_THEN_DEATH: RawAnswer = { body: 'never sent', cut: { bodyBytes: 0, after: 'close' } };

/** A request that must get a complete answer: a closed connection fails the test with what happened. */
async function answered(port: number, options: RequestOptions): Promise<HttpResult> {
  try {
    return await request(port, options);
  } catch (err) {
    return assert.fail(
      `${options.method ?? 'GET'} ${options.path}: no response at all (${(err as Error).message}); ` +
        'nothing had reached the client, so the proxy could still answer',
    );
  }
}

/**
 * A worker that fails mid-exchange, judged by what the client had received: while no byte of the
 * response has gone out, the proxy can still answer (502, 504) or send the request elsewhere; once
 * bytes went out, cutting the connection is the only honest ending.
 */
describe('a worker that dies mid-response', () => {
  test('after its head, before any body byte: a POST gets 502 and is not re-sent', async (t) => {
    const dying = await backend(t, 'dying', HEAD_THEN_DEATH);
    const other = await backend(t, 'other');
    const proxy = await startProxy(t, {
      upstream: { servers: servers(dying.port, other.port), max_fails: 0 },
    });
    // Round robin starts with the first server: the dying one.
    const reply = await answered(proxy.port, { method: 'POST', path: '/form', body: 'payload' });
    assert.equal(reply.status, 502);
    assert.match(reply.text, /502 Bad Gateway/);
    assert.equal(dying.requests.length, 1);
    assert.equal(other.requests.length, 0, 'a POST is never sent twice');
  });

  test('after its head, before any body byte: a GET is sent to the other worker → 200', async (t) => {
    const dying = await backend(t, 'dying', HEAD_THEN_DEATH);
    const other = await backend(t, 'other');
    const proxy = await startProxy(t, { upstream: { servers: servers(dying.port, other.port) } });
    const reply = await answered(proxy.port, { path: '/page' });
    assert.equal(dying.requests.length, 1, 'round robin tried the dying worker first');
    assert.equal(reply.status, 200);
    assert.equal(reply.text, 'other\n');
  });

  test('after its head, then silent: 504 after the read timeout, not a cut connection', async (t) => {
    const silent = await backend(t, 'silent', {
      body: 'never sent',
      cut: { bodyBytes: 0, after: 'silence' },
    });
    const proxy = await startProxy(t, {
      upstream: { servers: servers(silent.port) },
      timeouts: { read: '500ms' },
    });
    const reply = await answered(proxy.port, { method: 'POST', path: '/slow', body: 'payload' });
    assert.equal(reply.status, 504);
  });

  test('after part of its body: the client gets the head and that part, then the connection ends', async (t) => {
    const dying = await backend(t, 'dying', {
      body: 'partial, and the rest never comes',
      cut: { bodyBytes: 'partial'.length, after: 'close' },
    });
    const other = await backend(t, 'other');
    const proxy = await startProxy(t, { upstream: { servers: servers(dying.port, other.port) } });
    const exchange = await rawExchange(
      proxy.port,
      head('GET /page HTTP/1.1', `Host: 127.0.0.1:${proxy.port}`),
      { wait: 10_000 },
    );
    assert.equal(exchange.status, 200, exchange.text);
    assert.ok(exchange.closed, 'the proxy closed the connection');
    const body = exchange.text.slice(exchange.text.indexOf('\r\n\r\n') + 4);
    assert.match(body, /partial/);
    assert.doesNotMatch(body, /the rest never comes/);
    assert.equal(other.requests.length, 0, 'nothing is re-sent once response bytes reached the client');
  });
});
