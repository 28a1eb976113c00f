import assert from 'node:assert/strict';
import { headerValue } from '../helpers/raw-backend.js';
import { type ConformanceCase, describe, send } from './case.js';

/**
 * Routes (issue 17) on both fronts: the same route table, rendered into server and location
 * blocks for nginx and run by our proxy. Backends: raw recorders, `a` (the top-level pool) and `b`.
 */
const twoPools = (servers: string[], routes: Record<string, unknown>[]) => ({
  upstream: { servers: [{ address: servers[0] }] },
  routes: routes.map((route) =>
    route.upstream === 'b' ? { ...route, upstream: { servers: [{ address: servers[1] }] } } : route,
  ),
});

const requestsOf = (env: Parameters<ConformanceCase['check']>[0]) =>
  env.raw.map((b) => b.requests.map((r) => r.startLine));

export const routeCases: ConformanceCase[] = [
  {
    name: 'routes: the Host header picks the pool (exact name, then *.wildcard)',
    backends: [
      { kind: 'raw', name: 'a' },
      { kind: 'raw', name: 'b' },
    ],
    overrides: (servers) => twoPools(servers, [{ host: 'a.test' }, { host: '*.b.test', upstream: 'b' }]),
    async check(env) {
      for (const host of ['a.test', 'x.b.test', 'A.TEST'])
        assert.equal((await send(env, { target: `/${host}`, headers: [`Host: ${host}`] })).status, 200);
      assert.deepEqual(requestsOf(env), [
        ['GET /a.test HTTP/1.1', 'GET /A.TEST HTTP/1.1'],
        ['GET /x.b.test HTTP/1.1'],
      ]);
    },
  },
  {
    name: 'routes: the longest path prefix wins, and strip_prefix sends the rest from "/" with the query',
    backends: [
      { kind: 'raw', name: 'a' },
      { kind: 'raw', name: 'b' },
    ],
    overrides: (servers) =>
      twoPools(servers, [{ path: '/' }, { path: '/api/', strip_prefix: true, upstream: 'b' }]),
    async check(env) {
      for (const target of ['/api/users/1?full=1', '/apix', '/api/'])
        assert.equal((await send(env, { target })).status, 200);
      assert.deepEqual(requestsOf(env), [
        ['GET /apix HTTP/1.1'],
        ['GET /users/1?full=1 HTTP/1.1', 'GET / HTTP/1.1'],
      ]);
    },
  },
  {
    name: 'routes: an unknown host gets 404 when no route takes any host, and no backend is asked',
    backends: [{ kind: 'raw', name: 'a' }],
    overrides: { routes: [{ host: 'a.test' }] },
    async check(env) {
      const response = await send(env, { headers: ['Host: other.test'] });
      assert.equal(response.status, 404, describe(response));
      assert.deepEqual(requestsOf(env), [[]]);
    },
  },
  {
    name: 'routes: an absolute-form target is routed by its authority and reaches the pool in origin form with that Host',
    backends: [
      { kind: 'raw', name: 'a' },
      { kind: 'raw', name: 'b' },
    ],
    overrides: (servers) => twoPools(servers, [{ host: 'a.test' }, { host: 'b.test', upstream: 'b' }]),
    async check(env) {
      const response = await send(env, { target: 'http://b.test/x?y=1', headers: ['Host: a.test'] });
      assert.equal(response.status, 200, describe(response));
      assert.deepEqual(requestsOf(env), [[], ['GET /x?y=1 HTTP/1.1']]);
      assert.equal(headerValue(env.raw[1]!.requests[0]!, 'host'), 'b.test');
    },
  },
  {
    name: 'absolute-form target without routes: origin form to the worker, Host from the target',
    backends: [{ kind: 'raw', name: 'a' }],
    async check(env) {
      const response = await send(env, { target: 'http://a.test/p', headers: ['Host: wrong.test'] });
      assert.equal(response.status, 200, describe(response));
      const seen = env.raw[0]!.requests[0]!;
      assert.equal(seen.startLine, 'GET /p HTTP/1.1');
      assert.equal(headerValue(seen, 'host'), 'a.test');
    },
  },
  {
    name: 'routes: a redirect answers itself with `to` and the path after the prefix',
    backends: [{ kind: 'raw', name: 'a' }],
    overrides: {
      routes: [
        { path: '/' },
        { path: '/old/', strip_prefix: true, redirect: { to: 'https://new.test/base', status: 308 } },
      ],
    },
    async check(env) {
      const response = await send(env, { target: '/old/a/b?c=1' });
      assert.equal(response.status, 308, describe(response));
      assert.equal(headerValue(response, 'location'), 'https://new.test/base/a/b?c=1');
      assert.deepEqual(requestsOf(env), [[]]);
    },
  },
];
