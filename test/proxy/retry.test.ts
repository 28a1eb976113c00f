import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProxyError } from '../../proxy/errors.js';
import { createBalancer } from '../../proxy/pool/balancer.js';
import type { Upstream } from '../../proxy/pool/upstream.js';
import {
  type AttemptsSoFar,
  isIdempotent,
  nextUpstream,
  retriesAfter,
  retriesOnStatus,
  retryPolicy,
} from '../../proxy/retry.js';
import { makePool, upstreamAt } from '../helpers/pool.js';

const DEFAULT = retryPolicy({ nextUpstream: ['error', 'timeout'], tries: 3 });
const GET_FIRST: AttemptsSoFar = { attempts: 1, idempotent: true, bodyStarted: false };
const POST_FIRST: AttemptsSoFar = { attempts: 1, idempotent: false, bodyStarted: false };

const refused = new ProxyError('GH_ERR_UPSTREAM_CONNECT', 'ECONNREFUSED', false);
const reset = new ProxyError('GH_ERR_UPSTREAM_RESET', 'ECONNRESET', true);
const readTimeout = new ProxyError('GH_ERR_UPSTREAM_TIMEOUT', 'upstream read timeout', true);
const connectTimeout = new ProxyError('GH_ERR_UPSTREAM_CONNECT_TIMEOUT', 'upstream connect timeout', false);

describe('retryPolicy: next_upstream and tries from the config', () => {
  test('reads error, timeout and the http_ statuses', () => {
    const policy = retryPolicy({ nextUpstream: ['timeout', 'http_502', 'http_504'], tries: 0 });
    assert.equal(policy.error, false);
    assert.equal(policy.timeout, true);
    assert.deepEqual([...policy.statuses].sort(), [502, 504]);
    assert.equal(policy.tries, 0);
  });

  test('POST, PATCH and LOCK are not idempotent; GET, PUT, DELETE are', () => {
    for (const method of ['POST', 'PATCH', 'LOCK', undefined]) assert.equal(isIdempotent(method), false);
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'])
      assert.equal(isIdempotent(method), true);
  });
});

describe('retriesAfter: whether a failed attempt goes on to the next upstream', () => {
  test('a refused connection (nothing sent) is retried for any method', () => {
    assert.equal(retriesAfter(DEFAULT, refused, GET_FIRST), true);
    assert.equal(retriesAfter(DEFAULT, refused, POST_FIRST), true);
  });

  test('a reset after the request was sent is retried for a GET, never for a POST', () => {
    assert.equal(retriesAfter(DEFAULT, reset, GET_FIRST), true);
    assert.equal(retriesAfter(DEFAULT, reset, POST_FIRST), false);
  });

  test('a body that started streaming is never sent again, whatever the method', () => {
    const putStreaming = { attempts: 1, idempotent: true, bodyStarted: true };
    assert.equal(retriesAfter(DEFAULT, refused, putStreaming), false);
    assert.equal(retriesAfter(DEFAULT, reset, putStreaming), false);
  });

  test('timeouts follow next_upstream timeout, other failures next_upstream error', () => {
    const errorOnly = retryPolicy({ nextUpstream: ['error'], tries: 3 });
    assert.equal(retriesAfter(errorOnly, readTimeout, GET_FIRST), false);
    assert.equal(retriesAfter(errorOnly, connectTimeout, GET_FIRST), false);
    assert.equal(retriesAfter(errorOnly, reset, GET_FIRST), true);
    const timeoutOnly = retryPolicy({ nextUpstream: ['timeout'], tries: 3 });
    assert.equal(retriesAfter(timeoutOnly, readTimeout, GET_FIRST), true);
    assert.equal(retriesAfter(timeoutOnly, reset, GET_FIRST), false);
  });

  test('tries caps the attempts, the first included; 0 sets no cap', () => {
    assert.equal(retriesAfter(DEFAULT, reset, { ...GET_FIRST, attempts: 2 }), true);
    assert.equal(retriesAfter(DEFAULT, reset, { ...GET_FIRST, attempts: 3 }), false);
    const unlimited = retryPolicy({ nextUpstream: ['error'], tries: 0 });
    assert.equal(retriesAfter(unlimited, reset, { ...GET_FIRST, attempts: 50 }), true);
  });
});

describe('retriesOnStatus: next_upstream http_502/503/504', () => {
  const policy = retryPolicy({ nextUpstream: ['error', 'http_502'], tries: 3 });

  test('an idempotent request answered with a listed status goes on', () => {
    assert.equal(retriesOnStatus(policy, 502, GET_FIRST), true);
  });

  test('an unlisted status, a POST, a streamed body or no tries left keep the answer', () => {
    assert.equal(retriesOnStatus(policy, 503, GET_FIRST), false);
    assert.equal(retriesOnStatus(policy, 502, POST_FIRST), false);
    assert.equal(retriesOnStatus(policy, 502, { ...GET_FIRST, bodyStarted: true }), false);
    assert.equal(retriesOnStatus(policy, 502, { ...GET_FIRST, attempts: 3 }), false);
  });
});

describe('nextUpstream: never one the request tried', () => {
  test('the balancer picks among the upstreams not tried yet', () => {
    const pool = makePool(['10.0.0.1:80', '10.0.0.2:80']);
    const first = upstreamAt(pool, '10.0.0.1:80');
    const picked = nextUpstream(createBalancer('round_robin'), pool, '192.0.2.1', new Set([first]));
    assert.equal(picked?.address, '10.0.0.2:80');
  });

  test('with every upstream down, one is tried despite its health; none once all were tried', () => {
    const pool = makePool(['10.0.0.1:80', '10.0.0.2:80']);
    for (const upstream of pool.upstreams) upstream.recordFailure(Date.now());
    const balancer = createBalancer('round_robin');
    const tried = new Set<Upstream>();
    const despite = nextUpstream(balancer, pool, '192.0.2.1', tried);
    assert.ok(despite, 'an upstream despite its health');
    tried.add(despite);
    const other = nextUpstream(balancer, pool, '192.0.2.1', tried);
    assert.ok(other && other !== despite);
    tried.add(other);
    assert.equal(nextUpstream(balancer, pool, '192.0.2.1', tried), null);
  });
});
