import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fronts, type StartedFront } from '../conformance/fronts.js';
import { closedPort, rawExchange, request, servers, startProxy } from '../helpers/proxy.js';
import { createRawBackend, type RawBackend } from '../helpers/raw-backend.js';
import { requires } from '../helpers/system-deps.js';

/**
 * Error pages never echo request content (issue 15): every error a front makes itself, asked for
 * with a script tag in the path and in a header. A page that echoed either, unescaped, would run
 * the script in the client's browser under the site's origin.
 */

const SCRIPT = '<script>alert(1)</script>';
const PATH = `/${SCRIPT}?q=${SCRIPT}`;
const EVIL = `X-Evil: ${SCRIPT}`;

/** The script, or any part that would matter, anywhere in the answer (head or body). */
function assertNoEcho(answer: string, what: string): void {
  assert.doesNotMatch(answer, /<script|alert\(1\)|%3Cscript/i, `${what} echoed request content:\n${answer}`);
}

interface ErrorCase {
  name: string;
  /** Statuses per front: our proxy's, then nginx's (431 is nginx's 400, see the README). */
  status: { gatehouse: number; nginx: number };
  /** The raw request; `port` is the front's. */
  bytes: string;
}

const CASES: readonly ErrorCase[] = [
  {
    // nginx skips a header line without a colon; both refuse a Content-Length that is no number.
    name: '400 bad request (a header line without a colon, a Content-Length that is a script)',
    status: { gatehouse: 400, nginx: 400 },
    bytes: `POST ${PATH} HTTP/1.1\r\nHost: a\r\n${EVIL}\r\n${SCRIPT}\r\nContent-Length: ${SCRIPT}\r\n\r\n`,
  },
  {
    name: '413 body over client_max_body_size',
    status: { gatehouse: 413, nginx: 413 },
    bytes: `POST ${PATH} HTTP/1.1\r\nHost: a\r\n${EVIL}\r\nContent-Length: 100000\r\n\r\n`,
  },
  {
    name: '431 request head over client_max_header_size',
    status: { gatehouse: 431, nginx: 400 },
    bytes: `GET ${PATH} HTTP/1.1\r\nHost: a\r\n${EVIL}${'a'.repeat(20_000)}\r\n\r\n`,
  },
  {
    name: '502 no worker answers',
    status: { gatehouse: 502, nginx: 502 },
    bytes: `GET ${PATH} HTTP/1.1\r\nHost: a\r\n${EVIL}\r\nConnection: close\r\n\r\n`,
  },
  {
    name: '504 the worker is too slow',
    status: { gatehouse: 504, nginx: 504 },
    bytes: `GET ${PATH} HTTP/1.1\r\nHost: a\r\n${EVIL}\r\nConnection: close\r\n\r\n`,
  },
];

for (const name of ['gatehouse', 'nginx'] as const) {
  const front = fronts[name];
  describe(`error pages of ${name} echo nothing of the request`, requires(...front.needs), () => {
    let silent: RawBackend;
    let refused: number;
    const started: StartedFront[] = [];
    /** A front over `server`: small limits, a short read timeout. */
    const start = async (server: string) => {
      const one = await front.start({
        servers: [server],
        overrides: { client_max_body_size: '1k', timeouts: { read: '500ms' }, retries: { tries: 1 } },
      });
      started.push(one);
      return one;
    };
    let toSilent: StartedFront;
    let toRefused: StartedFront;

    before(async () => {
      silent = await createRawBackend({ answer: 'silence' });
      refused = await closedPort();
      toSilent = await start(`127.0.0.1:${silent.port}`);
      toRefused = await start(`127.0.0.1:${refused}`);
    });
    after(async () => {
      for (const one of started) await one.stop();
      await silent?.close();
    });

    for (const c of CASES) {
      test(`${c.name}: ${c.status[name]}, nothing echoed`, async () => {
        // Everything but the 504 is answered before (or without) a worker: the refused pool is fine.
        const target = c.status[name] === 504 ? toSilent : toRefused;
        const answer = await rawExchange(target.port, c.bytes, { untilResponse: true, wait: 5000 });
        assert.equal(answer.status, c.status[name], answer.text);
        assertNoEcho(answer.text, c.name);
      });
    }
  });
}

describe('the status listener echoes nothing of the request', () => {
  test('404 for an unknown path and 401 without the token', async (t) => {
    const backend = await createRawBackend();
    t.after(() => backend.close());
    const open = await startProxy(t, { upstream: { servers: servers(backend.port) } });
    const missing = await rawExchange(open.statusPort, `GET ${PATH} HTTP/1.1\r\nHost: a\r\n${EVIL}\r\n\r\n`, {
      untilResponse: true,
    });
    assert.equal(missing.status, 404, missing.text);
    assertNoEcho(missing.text, 'the status 404');
    const locked = await startProxy(t, {
      status: { token: 'a-token-of-sixteen-chars' },
      upstream: { servers: servers(backend.port) },
    });
    const denied = await request(locked.statusPort, {
      path: '/status',
      headers: { authorization: `Bearer ${SCRIPT}`, 'x-evil': SCRIPT },
    });
    assert.equal(denied.status, 401);
    assertNoEcho(`${JSON.stringify(denied.headers)}${denied.text}`, 'the status 401');
  });
});
