import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RouteConfig } from '../../config/index.js';
import { forwardedTarget, redirectLocation } from '../../proxy/routes/rewrite.js';
import { normalizePath, parseRequestTarget } from '../../proxy/routes/target.js';

function route(path: string, stripPrefix: boolean): RouteConfig {
  return { name: 'r', host: null, path, stripPrefix, target: { kind: 'redirect', to: '/', status: 301 } };
}

function forwarded(r: RouteConfig, url: string): string {
  const target = parseRequestTarget(url, 'h')!;
  return forwardedTarget(r, target, normalizePath(target.path)!);
}

describe('what goes on to the pool', () => {
  test('without strip_prefix: the path and query exactly as the client sent them', () => {
    assert.equal(forwarded(route('/api/', false), '/api/a%2Fb?x=%20'), '/api/a%2Fb?x=%20');
  });

  test('absolute form goes on in origin form', () => {
    assert.equal(forwarded(route('/', false), 'http://a.example/x?y'), '/x?y');
  });

  test('strip_prefix: the prefix becomes "/" (nginx proxy_pass http://pool/;), the query kept', () => {
    assert.equal(forwarded(route('/api/', true), '/api/users/1?full'), '/users/1?full');
    assert.equal(forwarded(route('/api/', true), '/api/'), '/');
    assert.equal(forwarded(route('/api/', true), '/api//x/./y'), '/x/y');
  });

  test('a redirect appends the forwarded path and query to `to`, one slash between', () => {
    assert.equal(redirectLocation('https://b.example/', '/x?y'), 'https://b.example/x?y');
    assert.equal(redirectLocation('https://b.example/new', '/x'), 'https://b.example/new/x');
  });
});
