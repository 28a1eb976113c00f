import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, test } from 'node:test';
import { requestPrologue } from '../../proxy/prologue.js';
import { createTrust } from '../../proxy/trust.js';

const NOBODY = createTrust([]);
const PRIVATE = createTrust(['10.0.0.0/8']);

describe('requestPrologue: the headers a worker may trust, for HTTP and WebSocket alike', () => {
  test('an untrusted client: peer as client, fresh request id, forwarded headers set', () => {
    const headers: IncomingHttpHeaders = {
      host: 'a',
      'x-real-ip': '198.51.100.9',
      'x-forwarded-for': '203.0.113.7',
      'x-request-id': 'chosen-by-client',
    };
    const origin = requestPrologue(headers, '::ffff:192.0.2.10', NOBODY);
    assert.equal(origin.peer, '192.0.2.10');
    assert.equal(origin.trusted, false);
    assert.equal(origin.clientIp, '192.0.2.10');
    assert.notEqual(origin.requestId, 'chosen-by-client');
    assert.equal(headers['x-request-id'], origin.requestId);
    assert.equal(headers['x-real-ip'], '192.0.2.10');
    assert.equal(headers['x-forwarded-for'], '203.0.113.7, 192.0.2.10');
    assert.equal(headers['x-forwarded-proto'], 'http');
    assert.equal(origin.close, false);
  });

  test('a trusted proxy: the client address from X-Forwarded-For, its request id kept', () => {
    const headers: IncomingHttpHeaders = { 'x-forwarded-for': '203.0.113.7', 'x-request-id': 'abc-123' };
    const origin = requestPrologue(headers, '10.0.0.5', PRIVATE);
    assert.equal(origin.trusted, true);
    assert.equal(origin.clientIp, '203.0.113.7');
    assert.equal(origin.requestId, 'abc-123');
    assert.equal(headers['x-real-ip'], '203.0.113.7');
    assert.equal(headers['x-forwarded-for'], '203.0.113.7, 10.0.0.5');
  });

  test('hop-by-hop headers go first: naming X-Real-IP in Connection cannot remove the one set', () => {
    const headers: IncomingHttpHeaders = {
      connection: 'close, X-Real-IP',
      'keep-alive': '5',
      te: 'trailers',
    };
    const origin = requestPrologue(headers, '192.0.2.10', NOBODY);
    assert.equal(origin.close, true);
    assert.equal(headers.connection, undefined);
    assert.equal(headers['keep-alive'], undefined);
    assert.equal(headers.te, undefined);
    assert.equal(headers['x-real-ip'], '192.0.2.10');
  });

  test('a WebSocket handshake keeps its Connection: upgrade and Upgrade: websocket', () => {
    const headers: IncomingHttpHeaders = {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'proxy-authorization': 'x',
    };
    requestPrologue(headers, '192.0.2.10', NOBODY, true);
    assert.equal(headers.connection, 'upgrade');
    assert.equal(headers.upgrade, 'websocket');
    assert.equal(headers['proxy-authorization'], undefined);
    assert.equal(headers['x-forwarded-for'], '192.0.2.10');
  });
});
