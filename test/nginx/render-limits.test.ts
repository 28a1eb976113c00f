import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderNginx } from '../../nginx/render.js';
import { longestRetryAfter } from '../../nginx/render-limits.js';
import { configFrom } from '../helpers/nginx.js';
import { LIMITED_ROUTES } from './limit-configs.js';

const render = (raw: Record<string, unknown>) => renderNginx(configFrom(raw), { target: 'host' });
const lines = (text: string, pattern: RegExp) =>
  text
    .split('\n')
    .filter((l) => pattern.test(l))
    .map((l) => l.trim());

describe('nginx render: request limits', () => {
  test('off by default: no zone, no limit_req', () => {
    assert.doesNotMatch(render({}), /limit_req/);
  });

  test('the single pool: a zone keyed by the realip client address, limit_req with 429 in location /', () => {
    const text = render({
      routes: [],
      trusted_proxies: ['10.0.0.0/8'],
      limits: { requests: { rate: '10r/s', burst: 20 } },
    });
    assert.deepEqual(lines(text, /^ *limit_req/), [
      'limit_req_zone $binary_remote_addr zone=gatehouse_default:10m rate=10r/s;',
      'limit_req zone=gatehouse_default burst=20;',
      'limit_req_status 429;',
      'limit_req_log_level warn;',
    ]);
    assert.match(text, /location \/ \{\n(.*\n)*? {8}limit_req zone=gatehouse_default burst=20;/);
    assert.match(text, /real_ip_header X-Forwarded-For;/);
  });

  test('routes: a zone each (inherited limits too), nodelay, no burst= for 0, a header key; none for an opted-out or redirect route', () => {
    const text = render(LIMITED_ROUTES);
    assert.deepEqual(lines(text, /^limit_req_zone/), [
      'limit_req_zone $binary_remote_addr zone=gatehouse_site:10m rate=10r/s;',
      'limit_req_zone $http_x_api_key zone=gatehouse_api:10m rate=30r/m;',
    ]);
    assert.deepEqual(lines(text, /^ +limit_req zone/), [
      'limit_req zone=gatehouse_site burst=20;',
      'limit_req zone=gatehouse_api nodelay;',
    ]);
    // Retry-After on 429s: the longest wait each rate can need, one map per value.
    assert.deepEqual(lines(text, /^ +add_header Retry-After/), [
      'add_header Retry-After $gatehouse_retry_after_1 always;',
      'add_header Retry-After $gatehouse_retry_after_2 always;',
    ]);
    assert.match(text, /^map \$status \$gatehouse_retry_after_2 \{\n {4}429 2;\n {4}default "";\n\}$/m);
  });

  test('Retry-After bound: one request at the rate, rounded up to whole seconds', () => {
    const at = (milliRate: number) =>
      longestRetryAfter({ rate: '', milliRate, burst: 0, nodelay: false, key: { kind: 'client_ip' } });
    assert.equal(at(10_000), 1);
    assert.equal(at(1_000), 1);
    assert.equal(at(500), 2);
    assert.equal(at(16), 63);
  });
});
