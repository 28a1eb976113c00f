import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, test } from 'node:test';
import {
  forwardedHeaders,
  isWebSocketUpgrade,
  peerAddress,
  requestId,
  responseHeaders,
  stripHopByHop,
} from '../../proxy/headers.js';
import { createTrust } from '../../proxy/trust.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The three forwarded-header steps in the forwarder's order, for a peer and trusted list. */
function forward(
  headers: IncomingHttpHeaders,
  peer: string,
  trustedProxies: string[] = [],
): IncomingHttpHeaders {
  const trust = createTrust(trustedProxies);
  const trusted = trust.isTrusted(peer);
  const clientIp = trusted
    ? trust.clientAddress(peer, headers['x-forwarded-for'] as string | undefined)
    : peer;
  requestId(headers, trusted);
  forwardedHeaders(headers, { peer, trusted, clientIp });
  return headers;
}

describe('X-Real-IP', () => {
  test('is the peer address, never the value an untrusted client sent', () => {
    const headers = forward({ 'x-real-ip': '198.51.100.9' }, '192.0.2.10');
    assert.equal(headers['x-real-ip'], '192.0.2.10');
  });

  test('is the peer address even when an untrusted client sends X-Forwarded-For', () => {
    const headers = forward({ 'x-forwarded-for': '203.0.113.7', 'x-real-ip': '203.0.113.7' }, '192.0.2.10');
    assert.equal(headers['x-real-ip'], '192.0.2.10');
  });

  test('is taken from X-Forwarded-For when the peer is a trusted proxy (realip)', () => {
    const headers = forward({ 'x-forwarded-for': '203.0.113.7' }, '10.0.0.5', ['10.0.0.0/8']);
    assert.equal(headers['x-real-ip'], '203.0.113.7');
  });

  test('skips every trusted hop from the right (real_ip_recursive on)', () => {
    const headers = forward(
      { 'x-forwarded-for': '198.51.100.1, 203.0.113.7, 10.1.1.1, 10.2.2.2' },
      '10.0.0.5',
      ['10.0.0.0/8'],
    );
    assert.equal(headers['x-real-ip'], '203.0.113.7');
  });

  test("is not taken from a trusted proxy's X-Real-IP header (X-Forwarded-For is the realip header)", () => {
    const headers = forward({ 'x-real-ip': '203.0.113.99' }, '10.0.0.5', ['10.0.0.0/8']);
    assert.equal(headers['x-real-ip'], '10.0.0.5');
  });
});

describe('X-Forwarded-For', () => {
  test('is the peer address when the client sent none', () => {
    assert.equal(forward({}, '192.0.2.10')['x-forwarded-for'], '192.0.2.10');
  });

  test('appends the peer to the client list with ", " (nginx $proxy_add_x_forwarded_for)', () => {
    const headers = forward({ 'x-forwarded-for': '203.0.113.7, 198.51.100.2' }, '192.0.2.10');
    assert.equal(headers['x-forwarded-for'], '203.0.113.7, 198.51.100.2, 192.0.2.10');
  });

  test('appends the peer (not the realip client address) when the peer is trusted', () => {
    const headers = forward({ 'x-forwarded-for': '203.0.113.7' }, '10.0.0.5', ['10.0.0.0/8']);
    assert.equal(headers['x-forwarded-for'], '203.0.113.7, 10.0.0.5');
  });
});

describe('X-Forwarded-Proto', () => {
  test('is set to http for a client that sent none', () => {
    assert.equal(forward({}, '192.0.2.10')['x-forwarded-proto'], 'http');
  });

  test('overwrites the value an untrusted client sent', () => {
    assert.equal(forward({ 'x-forwarded-proto': 'https' }, '192.0.2.10')['x-forwarded-proto'], 'http');
  });

  test('keeps the value a trusted proxy sent (TLS ended before us)', () => {
    const headers = forward({ 'x-forwarded-proto': 'https' }, '10.0.0.5', ['10.0.0.0/8']);
    assert.equal(headers['x-forwarded-proto'], 'https');
  });
});

describe('X-Request-Id', () => {
  test('an untrusted client cannot choose it: a fresh UUID replaces it', () => {
    const headers: IncomingHttpHeaders = { 'x-request-id': 'abc-123' };
    const id = requestId(headers, false);
    assert.match(id, UUID);
    assert.notEqual(id, 'abc-123');
    assert.equal(headers['x-request-id'], id);
  });

  test('a well-formed id from a trusted peer is kept', () => {
    const headers: IncomingHttpHeaders = { 'x-request-id': 'lb-7f3a:42/x+y=' };
    assert.equal(requestId(headers, true), 'lb-7f3a:42/x+y=');
    assert.equal(headers['x-request-id'], 'lb-7f3a:42/x+y=');
  });

  for (const [name, bad] of [
    ['spaces', 'id with spaces'],
    ['a quote', 'id"quote'],
    ['over 200 characters', 'a'.repeat(201)],
    ['empty', ''],
    ['a control character', 'id\u0001'],
  ] as const) {
    test(`an id with ${name} from a trusted peer is replaced by a fresh one`, () => {
      const headers: IncomingHttpHeaders = { 'x-request-id': bad };
      const id = requestId(headers, true);
      assert.match(id, UUID);
    });
  }

  test('a request without one gets a fresh UUID, different each time', () => {
    const a = requestId({}, false);
    const b = requestId({}, true);
    assert.match(a, UUID);
    assert.match(b, UUID);
    assert.notEqual(a, b);
  });
});

describe('stripHopByHop (request)', () => {
  test('removes every hop-by-hop header', () => {
    const headers: IncomingHttpHeaders = {
      host: 'example.test',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      trailer: 'x-checksum',
      'transfer-encoding': 'chunked',
      upgrade: 'h2c',
      'proxy-connection': 'keep-alive',
      'proxy-authenticate': 'Basic',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
      'http2-settings': 'AAMAAABkAARAAAAAAAIAAAAA',
      accept: '*/*',
    };
    stripHopByHop(headers);
    assert.deepEqual(headers, { host: 'example.test', accept: '*/*' });
  });

  test('removes every header named in Connection, whatever their case and spacing', () => {
    const headers: IncomingHttpHeaders = {
      connection: 'X-Secret ,  x-internal-token,Keep-Alive',
      'x-secret': '1',
      'x-internal-token': '2',
      'x-kept': '3',
    };
    stripHopByHop(headers);
    assert.deepEqual(headers, { 'x-kept': '3' });
  });

  test('reports Connection: close so the client connection is closed after the response', () => {
    assert.equal(stripHopByHop({ connection: 'close' }), true);
    assert.equal(stripHopByHop({ connection: 'Keep-Alive, X-A' }), false);
    assert.equal(stripHopByHop({}), false);
  });

  test('keeps Connection: upgrade and Upgrade: websocket in a WebSocket handshake only', () => {
    const handshake: IncomingHttpHeaders = {
      connection: 'keep-alive, Upgrade, X-Hop',
      upgrade: 'websocket',
      'x-hop': '1',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'proxy-authorization': 'secret',
    };
    stripHopByHop(handshake, true);
    assert.deepEqual(handshake, {
      connection: 'upgrade',
      upgrade: 'websocket',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    });

    const plain: IncomingHttpHeaders = { connection: 'Upgrade', upgrade: 'websocket' };
    stripHopByHop(plain);
    assert.deepEqual(plain, {});
  });
});

describe('isWebSocketUpgrade', () => {
  test('is true only for GET with Upgrade: websocket (any case)', () => {
    assert.equal(isWebSocketUpgrade('GET', { upgrade: 'WebSocket' }), true);
    assert.equal(isWebSocketUpgrade('GET', { upgrade: 'h2c' }), false);
    assert.equal(isWebSocketUpgrade('POST', { upgrade: 'websocket' }), false);
    assert.equal(isWebSocketUpgrade('GET', {}), false);
  });
});

describe('responseHeaders (response cleaning)', () => {
  test('removes hop-by-hop headers from the upstream response', () => {
    const out = responseHeaders(
      [
        'Content-Type',
        'text/plain',
        'Connection',
        'keep-alive',
        'Keep-Alive',
        'timeout=5',
        'Transfer-Encoding',
        'chunked',
        'Trailer',
        'X-Checksum',
        'Upgrade',
        'h2c',
        'Proxy-Authenticate',
        'Basic',
        'Proxy-Connection',
        'keep-alive',
      ],
      'rid-1',
    );
    assert.deepEqual(out, ['Content-Type', 'text/plain', 'X-Request-Id', 'rid-1']);
  });

  test('removes the headers the upstream names in its Connection header', () => {
    const out = responseHeaders(
      ['Connection', 'close, X-Backend-Secret', 'X-Backend-Secret', 's3cr3t', 'X-Kept', 'yes'],
      'rid-1',
    );
    assert.deepEqual(out, ['X-Kept', 'yes', 'X-Request-Id', 'rid-1']);
  });

  test('keeps repeated Set-Cookie lines as separate lines, in order, with their case', () => {
    const out = responseHeaders(
      [
        'Set-Cookie',
        'a=1; Path=/',
        'content-length',
        '2',
        'set-cookie',
        'b=2, c=3; Expires=Wed, 21 Oct 2026',
      ],
      'rid-1',
    );
    assert.deepEqual(out, [
      'Set-Cookie',
      'a=1; Path=/',
      'content-length',
      '2',
      'set-cookie',
      'b=2, c=3; Expires=Wed, 21 Oct 2026',
      'X-Request-Id',
      'rid-1',
    ]);
  });

  test('adds the request id, unless the upstream sent its own X-Request-Id', () => {
    assert.deepEqual(responseHeaders([], 'rid-1'), ['X-Request-Id', 'rid-1']);
    assert.deepEqual(responseHeaders(['x-request-id', 'from-app'], 'rid-1'), ['x-request-id', 'from-app']);
  });

  test("reports an upstream's Connection: close (any case, among other tokens), and only that", () => {
    const said = (...raw: string[]) => {
      const seen = { close: false };
      responseHeaders(raw, 'rid', seen);
      return seen.close;
    };
    assert.equal(said('Connection', 'close'), true);
    assert.equal(said('connection', 'X-Trace, Close'), true);
    assert.equal(said('Connection', 'keep-alive'), false);
    assert.equal(said('X-Note', 'close'), false);
    assert.equal(said(), false);
  });
});

describe('peerAddress', () => {
  test('unwraps IPv4-mapped IPv6 peers and keeps others', () => {
    assert.equal(peerAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(peerAddress('::1'), '::1');
    assert.equal(peerAddress('2001:db8::ffff:1'), '2001:db8::ffff:1');
    assert.equal(peerAddress('10.1.2.3'), '10.1.2.3');
    assert.equal(peerAddress(undefined), '');
  });
});
