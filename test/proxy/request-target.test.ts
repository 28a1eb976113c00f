import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { malformedRequest } from '../../proxy/request-target.js';

describe('requests no upstream request can carry are the client’s fault (400, not 502)', () => {
  test('an origin-form or absolute-form target with an ordinary Host passes', () => {
    assert.equal(malformedRequest('/a?b=c', 'example.test'), null);
    assert.equal(malformedRequest('http://a.example/x', 'a.example'), null);
    assert.equal(malformedRequest('/', '[::1]:8080'), null);
    assert.equal(malformedRequest('/', undefined), null);
  });

  test('an asterisk-form or other target is refused, whatever the method', () => {
    assert.match(malformedRequest('*', 'a') ?? '', /neither origin-form nor absolute-form/);
    assert.match(malformedRequest('fuzz/x', 'a') ?? '', /neither origin-form/);
    assert.match(malformedRequest('', 'a') ?? '', /neither origin-form/);
  });

  test('a Host that opens an IPv6 literal and never closes it is refused', () => {
    assert.match(malformedRequest('/', '[::1') ?? '', /not a valid IPv6 literal/);
    assert.match(malformedRequest('/', '[nope]') ?? '', /not a valid IPv6 literal/);
  });
});
