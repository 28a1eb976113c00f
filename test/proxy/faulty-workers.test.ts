import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import {
  type Cleanup,
  closedPort,
  type HttpResult,
  head,
  type LogLine,
  type ProxyProcess,
  rawExchange,
  request,
  servers,
  startProxyProcess,
} from '../helpers/proxy.js';
import {
  createRawBackend,
  headerValue,
  type RawAnswer,
  type RawBackend,
  readMessage,
} from '../helpers/raw-backend.js';
import { waitFor } from '../helpers/wait.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';

/**
 * Every fault a worker can commit, behind a real proxy process (request buffering on, the
 * default), with GET and POST: the faulty worker first in the pool, a good one second. Recording
 * backends count what arrived where: an idempotent request is sent on to the good worker and
 * answered; a POST that may have reached the faulty one is answered 502 (504 for a silent one) and
 * never sent again; a response already begun can only be cut. Every exchange ends with a complete
 * response or a closed connection well within the hang limit, and the proxy's log says why.
 */

/** The proxy's read timeout: a silent worker is given up after it. */
const READ_TIMEOUT_MS = 1000;
/** Far past every configured timeout: a client still waiting then is hanging. */
const HANG_LIMIT_MS = READ_TIMEOUT_MS + 14_000;
const ROUNDS = 4;

/** What a client gets when its request reached the faulty worker. */
type Expected = 'answered' | '502' | '504' | 'cut';

interface Fault {
  name: string;
  /** The faulty worker's behaviour; 'refused': nothing listens on its port. */
  answer: RawAnswer | 'refused';
  get: Expected;
  post: Expected;
  /** The proxy's log line about the attempt on the faulty worker: its code (cut lines have none) and reason. */
  code?: string;
  reason: RegExp;
}

const BODY = 'the whole body of a response that never arrives whole\n';

const FAULTS: Fault[] = [
  {
    name: 'connection refused',
    answer: 'refused',
    // Nothing reached a worker: a POST (its body buffered) is sent on too.
    get: 'answered',
    post: 'answered',
    code: 'GH_ERR_UPSTREAM_CONNECT',
    reason: /ECONNREFUSED/,
  },
  {
    name: 'reset before the response',
    answer: 'reset',
    get: 'answered',
    post: '502',
    code: 'GH_ERR_UPSTREAM_RESET',
    reason: /ECONNRESET|other side closed/,
  },
  {
    name: 'reset mid-body',
    answer: { body: BODY, cut: { bodyBytes: 10, after: 'reset' } },
    // Part of the response went out: no retry and no error page can follow it.
    get: 'cut',
    post: 'cut',
    reason: /ECONNRESET|other side closed/,
  },
  {
    name: 'hang with no bytes',
    answer: 'silence',
    get: 'answered',
    post: '504',
    code: 'GH_ERR_UPSTREAM_TIMEOUT',
    reason: /upstream read timeout/,
  },
  {
    name: 'a garbage response head',
    answer: { raw: 'SPAM/9 what\r\nno colon here\r\n\r\n', close: true },
    get: 'answered',
    post: '502',
    code: 'GH_ERR_UPSTREAM_RESET',
    reason: /does not match the HTTP\/1.1 protocol/,
  },
  {
    name: 'an oversized response head',
    answer: {
      raw: `HTTP/1.1 200 OK\r\nX-Huge: ${'h'.repeat(128 * 1024)}\r\nContent-Length: 3\r\n\r\nok\n`,
      close: true,
    },
    get: 'answered',
    post: '502',
    code: 'GH_ERR_UPSTREAM_RESET',
    reason: /header|overflow/i,
  },
  {
    name: 'a response with both Content-Length and Transfer-Encoding',
    answer: {
      // The chunks add up to the Content-Length: only the conflict itself is wrong (RFC 9112 6.3:
      // "ought to be handled as an error"), and nginx refuses it too.
      raw: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nsmug!\r\n0\r\n\r\n',
    },
    get: 'answered',
    post: '502',
    code: 'GH_ERR_UPSTREAM_RESET',
    reason: /HPE_|content-length|transfer-encoding/i,
  },
];

interface ClientOutcome {
  method: string;
  path: string;
  status: number;
  /** A whole response by its own framing. */
  complete: boolean;
  closed: boolean;
  body: string;
  requestId: string | undefined;
}

/** One request on a new connection; collected until its response is complete or the proxy closes. */
async function send(port: number, method: 'GET' | 'POST', path: string): Promise<ClientOutcome> {
  const payload = `payload of ${path}`;
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`];
  if (method === 'POST') lines.push('Content-Type: text/plain', `Content-Length: ${payload.length}`);
  const exchange = await rawExchange(port, head(...lines) + (method === 'POST' ? payload : ''), {
    untilResponse: true,
    wait: HANG_LIMIT_MS,
  });
  const parsed = readMessage(exchange.raw, { response: true });
  const outcome: ClientOutcome = {
    method,
    path,
    status: exchange.status,
    complete: parsed !== null,
    closed: exchange.closed,
    body: parsed ? parsed.message.body.toString('latin1') : exchange.text,
    requestId: parsed ? headerValue(parsed.message, 'x-request-id') : undefined,
  };
  assert.ok(
    outcome.complete || outcome.closed,
    `${method} ${path}: neither a response nor a close within ${HANG_LIMIT_MS} ms: ${JSON.stringify(outcome)}`,
  );
  return outcome;
}

async function backend(t: Cleanup, name: string, answer: RawAnswer): Promise<RawBackend> {
  const created = await createRawBackend({ name, answer });
  t.after(() => created.close());
  return created;
}

/** The proxy's log line about a request's attempt on the faulty worker, by the request id it sent there. */
function faultLine(proxy: ProxyProcess, requestId: string, expected: Expected): Promise<LogLine> {
  const msg =
    expected === 'cut'
      ? 'upstream failed mid-response'
      : expected === '502'
        ? 'Bad Gateway'
        : expected === '504'
          ? 'Gateway Timeout'
          : 'upstream failed; trying the next upstream';
  return proxy.waitForLog((line) => line.requestId === requestId && line.msg === msg, 10_000);
}

function assertOutcome(fault: Fault, outcome: ClientOutcome, expected: Expected): void {
  const what = `${fault.name}: ${outcome.method} ${outcome.path} → ${JSON.stringify(outcome)}`;
  switch (expected) {
    case 'answered':
      assert.ok(outcome.complete, what);
      assert.equal(outcome.status, 200, what);
      assert.equal(outcome.body, 'good\n', what);
      return;
    case '502':
    case '504':
      assert.ok(outcome.complete, what);
      assert.equal(outcome.status, Number(expected), what);
      return;
    case 'cut':
      // The head and part of the body, then the connection closed: short by its Content-Length.
      assert.equal(outcome.status, 200, what);
      assert.ok(!outcome.complete && outcome.closed, what);
      return;
  }
}

describe('faulty workers behind a real proxy process: retried when safe, 502 when not, never a hang', () => {
  for (const fault of FAULTS) {
    test(`${fault.name}: GETs are answered by the next worker (or cut once begun), POSTs are never sent twice`, {
      timeout: 120_000,
    }, async (t) => {
      const good = await backend(t, 'good', {});
      const faulty = fault.answer === 'refused' ? null : await backend(t, 'faulty', fault.answer);
      const faultyPort = faulty?.port ?? (await closedPort());
      // max_fails 0: the faulty worker stays in rotation, so round robin keeps choosing it.
      const proxy = await startProxyProcess(t, {
        config: {
          upstream: { servers: servers(faultyPort, good.port), max_fails: 0 },
          timeouts: { connect: '2s', read: `${READ_TIMEOUT_MS}ms`, send: '2s' },
        },
      });

      const outcomes: ClientOutcome[] = [];
      for (let i = 0; i < ROUNDS; i++) outcomes.push(await send(proxy.port, 'GET', `/get/${i}`));
      for (let i = 0; i < ROUNDS; i++) outcomes.push(await send(proxy.port, 'POST', `/post/${i}`));

      const arrivals = (b: RawBackend | null, path: string) =>
        b?.requests.filter((r) => r.target === path) ?? [];
      const reachedFaulty: Record<string, number> = { GET: 0, POST: 0 };
      for (const outcome of outcomes) {
        const atFaulty = arrivals(faulty, outcome.path);
        const atGood = arrivals(good, outcome.path);
        const expected =
          atFaulty.length > 0 ? (outcome.method === 'GET' ? fault.get : fault.post) : 'answered';
        assertOutcome(fault, outcome, expected);
        // Never twice at one worker; at the good one only when it answered.
        assert.ok(atFaulty.length <= 1, `${outcome.path} reached the faulty worker ${atFaulty.length} times`);
        assert.equal(atGood.length, expected === 'answered' ? 1 : 0, `${outcome.path} at the good worker`);
        if (atFaulty.length === 0) continue;
        reachedFaulty[outcome.method]!++;
        // The proxy's log says why, for this very request (the id it sent to the faulty worker).
        const id = headerValue(atFaulty[0]!, 'x-request-id');
        assert.ok(id, 'the proxy sends X-Request-Id upstream');
        const line = await faultLine(proxy, id, expected);
        if (expected !== 'cut') assert.equal(line.code, fault.code, JSON.stringify(line));
        assert.match(String(line.reason), fault.reason, JSON.stringify(line));
        assert.equal(line.upstream, `127.0.0.1:${faultyPort}`, JSON.stringify(line));
        if (reachedFaulty[outcome.method] === 1)
          t.diagnostic(
            `${outcome.method}: ${expected}; proxy log "${line.msg}" ${line.code ?? ''} ${line.reason}`,
          );
      }

      if (faulty) {
        // Round robin over two workers: the faulty one had its share of both methods.
        assert.ok(reachedFaulty.GET! >= 1 && reachedFaulty.POST! >= 1, JSON.stringify(reachedFaulty));
        // A POST that reached the faulty worker never reached the good one (checked above): none twice.
        const posts = [...faulty.requests, ...good.requests].filter((r) => r.method === 'POST');
        assert.equal(new Set(posts.map((r) => r.target)).size, posts.length, 'no POST arrived twice');
        assert.equal(posts.length, ROUNDS, 'every POST arrived once');
      } else {
        // Refused: nothing arrived there, yet the proxy tried it and said so.
        const line = await proxy.waitForLog(
          (l) =>
            l.msg === 'upstream failed; trying the next upstream' && l.upstream === `127.0.0.1:${faultyPort}`,
          10_000,
        );
        assert.equal(line.code, fault.code, JSON.stringify(line));
        assert.match(String(line.reason), fault.reason, JSON.stringify(line));
        assert.equal(
          good.requests.length,
          2 * ROUNDS,
          'every request, POSTs included, answered once by the good worker',
        );
      }
      assert.deepEqual(proxy.crashes(), [], 'no uncaught exception in the proxy');
    });
  }
});

const recordingApp = join(packageRoot, 'dist', 'test', 'fixtures', 'apps', 'recording.js');
const IN_FLIGHT = 200;
const WORKERS = 3;

interface KilledMidLoad {
  /** Each request's path and what its client got (a transport error as status 0). */
  results: Array<{ path: string; result: HttpResult | Error }>;
  /** Where each request arrived: worker pid by path, every arrival (the fixture logs each). */
  arrivals: Map<string, number[]>;
  victim: WorkerProcess;
  victimAddress: string;
  proxy: ProxyProcess;
}

/**
 * IN_FLIGHT requests of `method`, all at once, to a proxy in front of WORKERS real workers running
 * the recording app, which holds each until released. Once every one has arrived at a worker, the
 * first worker is killed with SIGKILL; then the rest are released.
 */
async function killMidLoad(t: Cleanup, method: 'GET' | 'POST'): Promise<KilledMidLoad> {
  const dir = mkdtempSync(join(tmpdir(), 'gh-faulty-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const release = join(dir, 'release');
  const workers: WorkerProcess[] = [];
  t.after(() => Promise.all(workers.map((w) => w.stop({ timeout: 5000 }))));
  for (let i = 0; i < WORKERS; i++) workers.push(await startWorker({ app: recordingApp }));
  const proxy = await startProxyProcess(t, {
    config: {
      upstream: { servers: servers(...workers.map((w) => w.port)) },
      timeouts: { read: '20s' },
    },
  });
  const arrivals = new Map<string, number[]>();
  const arrived = () => workers.flatMap((w) => w.logs.filter((l) => l.msg === 'arrived'));

  const pending = Array.from({ length: IN_FLIGHT }, (_, i) => {
    const path = `/${method.toLowerCase()}/${i}`;
    const options =
      method === 'POST'
        ? { method, body: `payload ${i}`, headers: { 'content-type': 'text/plain' } }
        : { method };
    return request(proxy.port, { ...options, path: `${path}?until=${release}`, timeout: 60_000 }).then(
      (result) => ({ path, result }),
      (err: Error) => ({ path, result: err }),
    );
  });
  // Every request held by a worker: the kill finds IN_FLIGHT in flight, a share on the victim.
  await waitFor(
    `${IN_FLIGHT} requests arrived at the workers`,
    async () => arrived().length >= IN_FLIGHT,
    60_000,
  );
  const victim = workers[0]!;
  victim.child.kill('SIGKILL');
  await victim.exited;
  writeFileSync(release, '');
  const results = await Promise.all(pending);
  for (const line of arrived()) {
    const list = arrivals.get(String(line.path)) ?? [];
    list.push(Number(line.pid));
    arrivals.set(String(line.path), list);
  }
  return { results, arrivals, victim, victimAddress: `127.0.0.1:${victim.port}`, proxy };
}

/** The proxy's lines that match, once there are `atLeast` of them (its log reaches us through a pipe, a little behind). */
function logged(proxy: ProxyProcess, match: (line: LogLine) => boolean, atLeast: number): Promise<LogLine[]> {
  return waitFor(`${atLeast} proxy log lines`, async () => {
    const lines = proxy.logs.filter(match);
    return lines.length >= atLeast ? lines : null;
  }).catch(() => proxy.logs.filter(match));
}

describe('a real worker killed with SIGKILL while 200 requests are in flight', () => {
  test('every GET is answered 200, those on the killed worker by another one', {
    timeout: 180_000,
  }, async (t) => {
    const { results, arrivals, victim, victimAddress, proxy } = await killMidLoad(t, 'GET');
    const victimPid = victim.child.pid!;
    const onVictim = [...arrivals].filter(([, pids]) => pids[0] === victimPid).map(([path]) => path);
    t.diagnostic(`${onVictim.length} of ${IN_FLIGHT} GETs were on the killed worker (pid ${victimPid})`);
    assert.ok(onVictim.length > 0, 'round robin gave the victim its share');
    for (const { path, result } of results) {
      assert.ok(!(result instanceof Error), `${path}: ${result instanceof Error ? result.message : ''}`);
      assert.equal(result.status, 200, `${path}: ${result.text}`);
      assert.doesNotMatch(
        result.text,
        new RegExp(`from ${victimPid}\\n`),
        `${path} answered by the dead worker`,
      );
    }
    // Those held by the victim were sent again, once, to a live worker; the others only once.
    for (const [path, pids] of arrivals) {
      assert.equal(pids.length, pids[0] === victimPid ? 2 : 1, `${path} arrived at ${pids.join(', ')}`);
      assert.ok(!pids.slice(1).includes(victimPid), `${path} re-sent to the dead worker`);
    }
    const retried = await logged(
      proxy,
      (l) => l.msg === 'upstream failed; trying the next upstream' && l.upstream === victimAddress,
      onVictim.length,
    );
    assert.equal(retried.length, onVictim.length, 'one log line per GET sent on, saying why');
    for (const line of retried) assert.equal(line.code, 'GH_ERR_UPSTREAM_RESET', JSON.stringify(line));
    assert.deepEqual(proxy.crashes(), []);
  });

  test('each POST gets its echo or a 502; none arrives twice at any worker', {
    timeout: 180_000,
  }, async (t) => {
    const { results, arrivals, victim, victimAddress, proxy } = await killMidLoad(t, 'POST');
    const victimPid = victim.child.pid!;
    let answered = 0;
    let refused = 0;
    for (const { path, result } of results) {
      assert.ok(!(result instanceof Error), `${path}: ${result instanceof Error ? result.message : ''}`);
      const pids = arrivals.get(path) ?? [];
      // Every POST reached a worker before the kill, and none was sent again after it.
      assert.equal(pids.length, 1, `${path} arrived at ${pids.join(', ') || 'no worker'}`);
      if (pids[0] === victimPid) {
        assert.equal(result.status, 502, `${path} was on the killed worker: ${result.text}`);
        refused++;
      } else {
        assert.equal(result.status, 200, `${path}: ${result.text}`);
        assert.equal(result.text, `payload ${path.split('/')[2]}`);
        answered++;
      }
    }
    t.diagnostic(`${answered} POSTs echoed, ${refused} answered 502 (on the killed worker pid ${victimPid})`);
    assert.ok(refused > 0, 'round robin gave the victim its share');
    const lines = await logged(
      proxy,
      (l) => l.msg === 'Bad Gateway' && l.upstream === victimAddress,
      refused,
    );
    assert.equal(lines.length, refused, 'one log line per 502, saying why');
    for (const line of lines) assert.equal(line.code, 'GH_ERR_UPSTREAM_RESET', JSON.stringify(line));
    assert.deepEqual(proxy.crashes(), []);
  });
});
