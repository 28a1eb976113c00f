import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRouteMatcher, type RouteKey } from '../../proxy/routes/match.js';

/** Routes as [name, host, path]; the matcher answers with the route's name, or null. */
function matcher(...table: [string, string | null, string][]) {
  const match = createRouteMatcher<RouteKey & { name: string }>(
    table.map(([name, host, path]) => ({ name, host, path })),
  );
  return (host: string, path: string) => match(host, path)?.name ?? null;
}

describe('route matching, as nginx picks a server then a location', () => {
  test('the exact host name wins over a wildcard and over any host', () => {
    const match = matcher(
      ['any', null, '/'],
      ['wild', '*.example.com', '/'],
      ['exact', 'a.example.com', '/'],
    );
    assert.equal(match('a.example.com', '/x'), 'exact');
    assert.equal(match('b.example.com', '/x'), 'wild');
    assert.equal(match('other.test', '/x'), 'any');
  });

  test('the longest leading wildcard wins; a wildcard takes deeper names but not the bare domain', () => {
    const match = matcher(['short', '*.example.com', '/'], ['long', '*.api.example.com', '/']);
    assert.equal(match('v1.api.example.com', '/'), 'long');
    assert.equal(match('a.b.example.com', '/'), 'short');
    assert.equal(match('example.com', '/'), null);
    assert.equal(match('api.example.com', '/'), 'short');
  });

  test('the longest path prefix wins, whatever the order the routes were written in', () => {
    const match = matcher(['root', null, '/'], ['api', null, '/api/'], ['v1', null, '/api/v1/']);
    assert.equal(match('h', '/api/v1/users'), 'v1');
    assert.equal(match('h', '/api/v2'), 'api');
    assert.equal(match('h', '/apix'), 'root');
    assert.equal(match('h', '/'), 'root');
  });

  test('a prefix is a plain string prefix, as nginx location /prefix (no segment boundary)', () => {
    const match = matcher(['api', null, '/api']);
    assert.equal(match('h', '/apiary'), 'api');
    assert.equal(match('h', '/ap'), null);
  });

  test('a host with routes never falls back to another host: no location there is no route (404)', () => {
    const match = matcher(['any', null, '/'], ['a-api', 'a.example.com', '/api/']);
    assert.equal(match('a.example.com', '/api/x'), 'a-api');
    assert.equal(match('a.example.com', '/other'), null);
    assert.equal(match('b.example.com', '/other'), 'any');
  });

  test('an unknown host gets no route when no route takes any host (the default server 404s)', () => {
    const match = matcher(['a', 'a.example.com', '/']);
    assert.equal(match('b.example.com', '/'), null);
    assert.equal(match('', '/'), null);
  });

  test('no routes at all: nothing matches', () => {
    assert.equal(matcher()('a', '/'), null);
  });
});
