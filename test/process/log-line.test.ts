import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatLogLine, formatRequestLine } from '../../process/log-line.js';
import { createLogger, terminal } from '../../process/logger.js';

const time = '2026-01-01T12:00:01.250Z';
// The terminal shows local time; the expectation follows whatever time zone the test runs in.
const clock = new Date(time).toTimeString().slice(0, 8);
const json = (record: Record<string, unknown>) => JSON.stringify({ level: 30, time, ...record });

describe('formatLogLine (what a person at a terminal reads)', () => {
  test("a worker's request line: method, path, status, time, and which worker answered", () => {
    const line = json({
      pid: 1821,
      hostname: 'vm',
      instance: 1,
      port: 8002,
      name: 'worker',
      requestId: 'r-1',
      method: 'GET',
      path: '/signin?next=/',
      status: 200,
      duration: 3.14,
      aborted: false,
      msg: 'request',
    });
    assert.equal(
      formatLogLine(line),
      `${clock} GET /signin?next=/ → 200 in 3.1 ms by worker 1 (vm:8002, pid 1821)`,
    );
  });

  test('in a container the host name is what names the worker', () => {
    const line = json({
      pid: 7,
      hostname: '3f2a1b9c04de',
      instance: 0,
      port: 3000,
      name: 'worker',
      method: 'POST',
      path: '/echo',
      status: 413,
      duration: 1500,
      msg: 'request',
    });
    assert.equal(
      formatLogLine(line),
      `${clock} POST /echo → 413 in 1.5 s by worker 0 (3f2a1b9c04de:3000, pid 7)`,
    );
  });

  test("the access log's lines are left out, combined or JSON: the worker's line already says it", () => {
    assert.equal(
      formatLogLine('127.0.0.1 - - [01/Jan/2026:12:00:01 +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8.0"'),
      null,
    );
    const access = JSON.stringify({
      time,
      remote_addr: '127.0.0.1',
      method: 'GET',
      uri: '/',
      status: 200,
      upstream: '127.0.0.1:8001',
      request_time: 0.003,
    });
    assert.equal(formatLogLine(access), null);
  });

  test('an answer the proxy made itself says so, with the reason and code', () => {
    const line = json({
      level: 50,
      pid: 9,
      hostname: 'vm',
      name: 'proxy',
      requestId: 'r-2',
      method: 'GET',
      url: '/',
      upstream: null,
      code: 'GH_ERR_NO_UPSTREAM',
      status: 502,
      reason: 'no upstream available',
      msg: 'Bad Gateway',
    });
    assert.equal(
      formatLogLine(line),
      `${clock} GET / → 502 from the proxy: no upstream available (GH_ERR_NO_UPSTREAM)`,
    );
  });

  test('other events: time, who, the level when it is a warning or worse, the message and its fields', () => {
    assert.equal(
      formatLogLine(
        json({
          pid: 1,
          hostname: 'vm',
          instance: 0,
          name: 'worker',
          host: '127.0.0.1',
          port: 8001,
          app: 'sample site',
          msg: 'listening',
        }),
      ),
      `${clock} worker 0 listening host=127.0.0.1 port=8001 app="sample site"`,
    );
    assert.equal(
      formatLogLine(
        json({
          pid: 1,
          hostname: 'vm',
          name: 'proxy',
          servers: ['127.0.0.1:8001', '127.0.0.1:8002'],
          msg: 'pool updated',
        }),
      ),
      `${clock} proxy pool updated servers=127.0.0.1:8001,127.0.0.1:8002`,
    );
    assert.equal(
      formatLogLine(
        json({
          level: 60,
          pid: 1,
          hostname: 'vm',
          name: 'proxy',
          err: {
            type: 'Error',
            message: 'listen EADDRINUSE: address already in use 127.0.0.1:8080',
            stack: 'Error: ...\n    at x',
          },
          msg: 'cannot listen',
        }),
      ),
      `${clock} proxy FATAL: cannot listen Error: listen EADDRINUSE: address already in use 127.0.0.1:8080`,
    );
  });

  test('a line that is not JSON passes as it is; a newline in a path cannot forge a second line', () => {
    assert.equal(formatLogLine('Error: something went wrong\n'), 'Error: something went wrong');
    const line = json({
      name: 'worker',
      instance: 0,
      method: 'GET',
      path: '/a\nFAKE',
      status: 404,
      duration: 1,
      msg: 'request',
    });
    assert.equal(formatLogLine(line)?.includes('\n'), false);
    assert.match(formatLogLine(line) ?? '', /GET \/a\\x0aFAKE → 404/);
  });
});

describe('formatRequestLine', () => {
  test('fewer decimals as the time grows; no "by" when nobody answered', () => {
    const base = { time, method: 'GET', path: '/', status: 200 };
    assert.equal(
      formatRequestLine({ ...base, ms: 0.42, by: '127.0.0.1:8001' }),
      `${clock} GET / → 200 in 0.4 ms by 127.0.0.1:8001`,
    );
    assert.equal(formatRequestLine({ ...base, ms: 250.4, by: null }), `${clock} GET / → 200 in 250 ms`);
    assert.equal(formatRequestLine({ ...base, ms: 61_000, by: null }), `${clock} GET / → 200 in 61.0 s`);
  });
});

describe('the logger to a terminal', () => {
  test('writes each event as a readable line instead of JSON, request lines included', () => {
    let text = '';
    const logger = createLogger(
      { name: 'worker', base: { instance: 2, port: 8003 } },
      terminal({ write: (chunk: string) => (text += chunk) }),
    );
    logger.info({ method: 'GET', path: '/', status: 200, duration: 1.25 }, 'request');
    logger.warn({ inFlight: 3 }, 'grace period over; closed open connections');
    const [request, warning, rest] = text.split('\n');
    assert.match(request ?? '', /^\d\d:\d\d:\d\d GET \/ → 200 in 1\.3 ms by worker 2 \(.+:8003, pid \d+\)$/);
    assert.match(
      warning ?? '',
      /^\d\d:\d\d:\d\d worker 2 WARN: grace period over; closed open connections port=8003 inFlight=3$/,
    );
    assert.equal(rest, '');
  });
});
