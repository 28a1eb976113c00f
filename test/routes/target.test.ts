import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  encodePath,
  hostName,
  normalizeAnyPath,
  normalizePath,
  parseRequestTarget,
} from '../../proxy/routes/target.js';

describe('the request target', () => {
  test('origin form: routed by the Host header, port and case and trailing dot dropped', () => {
    assert.deepEqual(parseRequestTarget('/x?y=1', 'A.Example.:8080'), {
      host: 'a.example',
      path: '/x',
      query: '?y=1',
      authority: null,
    });
  });

  test('absolute form: the authority wins over Host, and the path goes on in origin form (RFC 9112 3.2.2)', () => {
    assert.deepEqual(parseRequestTarget('http://b.example:81/p/q?z', 'a.example'), {
      host: 'b.example',
      path: '/p/q',
      query: '?z',
      authority: 'b.example:81',
    });
    assert.deepEqual(parseRequestTarget('HTTPS://b.example', undefined), {
      host: 'b.example',
      path: '/',
      query: '',
      authority: 'b.example',
    });
    assert.equal(parseRequestTarget('http://b.example?q', undefined)?.path, '/');
  });

  test('targets that cannot be routed are refused: userinfo, no authority, asterisk, relative', () => {
    assert.equal(parseRequestTarget('http://user@b.example/', undefined), null);
    assert.equal(parseRequestTarget('http:///x', undefined), null);
    assert.equal(parseRequestTarget('*', 'a'), null);
    assert.equal(parseRequestTarget('x/y', 'a'), null);
    assert.equal(parseRequestTarget('/', 'a b'), null);
  });

  test('IPv6 literals keep their brackets; a bad port is no host', () => {
    assert.equal(hostName('[::1]:8080'), '[::1]');
    assert.equal(hostName('[::1'), null);
    assert.equal(hostName('[nope]'), null);
    assert.equal(hostName('a.example:x'), null);
    assert.equal(hostName(''), '');
  });
});

describe('the path routes are chosen by (nginx normalisation)', () => {
  test('dot segments resolved, slashes merged, escapes decoded', () => {
    assert.equal(normalizePath('/a/./b/../c'), '/a/c');
    assert.equal(normalizePath('/a//b'), '/a/b');
    assert.equal(normalizePath('/%61pi/%2e%2e/admin/'), '/admin/');
    assert.equal(normalizePath('/a/b/..'), '/a/');
    assert.equal(normalizePath('/a/.'), '/a/');
  });

  test('climbing above the root, a bad escape and a NUL are refused', () => {
    assert.equal(normalizePath('/..'), null);
    assert.equal(normalizePath('/a/../../b'), null);
    assert.equal(normalizePath('/%2e%2e/x'), null);
    assert.equal(normalizePath('/%zz'), null);
    assert.equal(normalizePath('/a%00b'), null);
  });

  test('UTF-8 compares byte for byte and is encoded again for the wire', () => {
    const path = normalizePath('/caf%C3%A9 x');
    assert.equal(path, Buffer.from('/café x', 'utf8').toString('latin1'));
    assert.equal(encodePath(path!), '/caf%C3%A9%20x');
    assert.equal(encodePath('/a?b#c%'), '/a%3Fb%23c%25');
  });

  test('the shortcut for plain paths answers what the full normalisation answers', () => {
    // Deterministic pseudo-random paths over the characters that matter to either.
    const alphabet = ['a', 'b', 'c', 'd', 'x', 'y', '/', '/', '.', '%', '2', 'e', 'f', '0', 'é', '\0', '?'];
    let seed = 7;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    let plain = 0;
    for (let n = 0; n < 20_000; n++) {
      let path = next() % 8 === 0 ? '' : '/';
      const length = next() % 12;
      for (let i = 0; i < length; i++) path += alphabet[next() % alphabet.length];
      if (normalizePath(path) === path) plain++;
      assert.equal(normalizePath(path), normalizeAnyPath(path), JSON.stringify(path));
    }
    assert.ok(plain > 300, `only ${plain} paths took the shortcut`);
  });
});
