import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseRate } from '../../config/limits.js';
import { testConfig } from '../helpers/proxy.js';
import { problemAt, problems } from './problems.js';

describe('config limits', () => {
  test('off by default, at the top level and on routes', () => {
    const config = testConfig({ routes: [{ name: 'a' }] });
    assert.deepEqual(config.limits, { requests: null });
    assert.equal(config.routes[0]?.limits, undefined);
  });

  test('rates as nginx reads them: per second, per minute truncated to milli-requests', () => {
    assert.equal(parseRate('10r/s'), 10_000);
    assert.equal(parseRate('30r/m'), 500);
    assert.equal(parseRate('1r/m'), 16);
    for (const bad of ['10 r/s', '0r/s', 'fast', '10r/h', '-1r/s', '1.5r/s', '10'])
      assert.equal(parseRate(bad), null, bad);
  });

  test('top level and per route, with defaults (burst 0, delayed, key client_ip); null turns an inherited limit off', () => {
    const config = testConfig({
      limits: { requests: { rate: '10r/s', burst: 20 } },
      routes: [
        {
          name: 'api',
          path: '/api/',
          limits: { requests: { rate: '30r/m', nodelay: true, key: 'header:X-Api-Key' } },
        },
        { name: 'open', path: '/open/', limits: { requests: null } },
        { name: 'site' },
      ],
    });
    assert.deepEqual(config.limits.requests, {
      rate: '10r/s',
      milliRate: 10_000,
      burst: 20,
      nodelay: false,
      key: { kind: 'client_ip' },
    });
    const [api, open, site] = config.routes;
    assert.deepEqual(api?.limits?.requests, {
      rate: '30r/m',
      milliRate: 500,
      burst: 0,
      nodelay: true,
      key: { kind: 'header', name: 'x-api-key' },
    });
    assert.deepEqual(open?.limits, { requests: null });
    assert.equal(site?.limits, undefined);
  });

  test('every bad value is listed with its key path', () => {
    const list = problems({
      limits: { requests: { rate: '10 r/s', burst: -1, key: 'cookie' } },
      routes: [
        { name: 'a', path: '/a/', limits: { requests: { rate: '0r/s' } } },
        { name: 'b', path: '/b/', limits: { requests: { rate: 'fast', nodelay: 'yes' } } },
        { name: 'c', path: '/c/', limits: { requests: { burst: 5 } } },
        { name: 'd', path: '/d/', limits: { requests: { rate: '5r/s', burst: 2.5 }, connections: 3 } },
      ],
    });
    problemAt(list, 'limits.requests.rate', /"10r\/s" or "30r\/m".*got "10 r\/s"/);
    problemAt(list, 'limits.requests.burst', />= 0/);
    problemAt(list, 'limits.requests.key', /client_ip or header:NAME.*got "cookie"/);
    problemAt(list, 'routes.0.limits.requests.rate', /got "0r\/s"/);
    problemAt(list, 'routes.1.limits.requests.rate', /got "fast"/);
    problemAt(list, 'routes.1.limits.requests.nodelay', /boolean/);
    problemAt(list, 'routes.2.limits.requests.rate', /is required/);
    problemAt(list, 'routes.3.limits.requests.burst', /integer/);
    problemAt(list, 'routes.3.limits.connections', /unknown key/);
  });
});
