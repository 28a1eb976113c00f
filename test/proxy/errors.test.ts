import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errorPage, ProxyError, rawErrorResponse, reasonPhrase, toProxyError } from '../../proxy/errors.js';

function errno(code: string, message = `${code} happened`): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

describe('toProxyError: upstream failure → status', () => {
  test('a refused connection is a connect error: 502, not sent, retryable as "error"', () => {
    const error = toProxyError(errno('ECONNREFUSED'), false);
    assert.equal(error.code, 'GH_ERR_UPSTREAM_CONNECT');
    assert.equal(error.status, 502);
    assert.equal(error.requestSent, false);
    assert.equal(error.kind, 'error');
  });

  test('an unreachable or unresolvable upstream is a connect error even if the socket was marked sent', () => {
    for (const code of ['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']) {
      const error = toProxyError(errno(code), true);
      assert.equal(error.code, 'GH_ERR_UPSTREAM_CONNECT', code);
      assert.equal(error.status, 502, code);
      assert.equal(error.requestSent, false, code);
    }
  });

  test('a reset before the request was sent is a connect error (502, may be sent again)', () => {
    const error = toProxyError(errno('ECONNRESET'), false);
    assert.equal(error.code, 'GH_ERR_UPSTREAM_CONNECT');
    assert.equal(error.status, 502);
    assert.equal(error.requestSent, false);
  });

  test('a reset after the request was sent is a reset: 502, marked sent (POST must not be re-sent)', () => {
    const error = toProxyError(errno('ECONNRESET'), true);
    assert.equal(error.code, 'GH_ERR_UPSTREAM_RESET');
    assert.equal(error.status, 502);
    assert.equal(error.requestSent, true);
    assert.equal(error.kind, 'error');
  });

  test('a socket hang up (no code) after sending is a reset', () => {
    const error = toProxyError(new Error('socket hang up'), true);
    assert.equal(error.code, 'GH_ERR_UPSTREAM_RESET');
    assert.match(error.message, /socket hang up/);
  });

  test('a ProxyError passes through unchanged', () => {
    const original = new ProxyError('GH_ERR_UPSTREAM_TIMEOUT', 'read timeout', true);
    assert.equal(toProxyError(original, false), original);
  });

  test('a thrown non-Error value still maps to a 502', () => {
    assert.equal(toProxyError('boom', true).status, 502);
    assert.equal(toProxyError(undefined, false).status, 502);
  });
});

describe('ProxyError status and kind', () => {
  const table = [
    ['GH_ERR_NO_UPSTREAM', 502, 'error'],
    ['GH_ERR_UPSTREAM_CONNECT', 502, 'error'],
    ['GH_ERR_UPSTREAM_CONNECT_TIMEOUT', 504, 'timeout'],
    ['GH_ERR_UPSTREAM_RESET', 502, 'error'],
    ['GH_ERR_UPSTREAM_TIMEOUT', 504, 'timeout'],
    ['GH_ERR_UPSTREAM_STATUS', 502, 'status'],
    ['GH_ERR_BODY_TOO_LARGE', 413, 'client'],
    ['GH_ERR_CLIENT_TIMEOUT', 408, 'client'],
    ['GH_ERR_BAD_REQUEST', 400, 'client'],
    ['GH_ERR_HEADER_TOO_LARGE', 431, 'client'],
  ] as const;
  for (const [code, status, kind] of table) {
    test(`${code} → ${status}, kind ${kind}`, () => {
      const error = new ProxyError(code, 'x');
      assert.equal(error.status, status);
      assert.equal(error.kind, kind);
      assert.equal(error.name, 'ProxyError');
      assert.ok(error instanceof Error);
    });
  }

  test('connect timeout → 504 and read timeout → 504 (nginx: 504 Gateway Time-out)', () => {
    assert.equal(new ProxyError('GH_ERR_UPSTREAM_CONNECT_TIMEOUT', 'connect').status, 504);
    assert.equal(new ProxyError('GH_ERR_UPSTREAM_TIMEOUT', 'read').status, 504);
  });
});

describe('error pages', () => {
  test('every proxy-made status has its reason phrase; unknown ones get a generic one', () => {
    assert.equal(reasonPhrase(400), 'Bad Request');
    assert.equal(reasonPhrase(408), 'Request Timeout');
    assert.equal(reasonPhrase(413), 'Content Too Large');
    assert.equal(reasonPhrase(431), 'Request Header Fields Too Large');
    assert.equal(reasonPhrase(502), 'Bad Gateway');
    assert.equal(reasonPhrase(504), 'Gateway Timeout');
    assert.equal(reasonPhrase(599), 'Error');
  });

  test('the error page is small HTML naming the status', () => {
    const page = errorPage(502);
    assert.match(page, /^<!doctype html>/);
    assert.match(page, /<title>502 Bad Gateway<\/title>/);
    assert.match(page, /<h1>502 Bad Gateway<\/h1>/);
    assert.ok(Buffer.byteLength(page) < 1024);
  });

  test('the raw error response is a complete HTTP/1.1 message that closes the connection', () => {
    const raw = rawErrorResponse(431);
    const [head = '', body = ''] = raw.split('\r\n\r\n');
    const lines = head.split('\r\n');
    assert.equal(lines[0], 'HTTP/1.1 431 Request Header Fields Too Large');
    assert.ok(lines.includes('Connection: close'));
    assert.ok(lines.includes('Content-Type: text/html'));
    assert.ok(lines.includes(`Content-Length: ${Buffer.byteLength(body)}`));
    assert.equal(body, errorPage(431));
  });
});
