import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { headerValue, headerValues, type RawRequest } from '../helpers/raw-backend.js';
import { bufferingCases } from './buffering-cases.js';
import {
  byFront,
  type CaseEnv,
  type ConformanceCase,
  describe,
  nothingForwarded,
  onlyRequest,
  send,
  sha,
  sleep,
} from './case.js';
import { compressionCases } from './compression-cases.js';
import { limitCases } from './limit-cases.js';
import { routeCases } from './route-cases.js';
import { staticCases } from './static-cases.js';

const PEER = '127.0.0.1';
const count = (env: CaseEnv) => env.raw.map((b) => b.requests.length);

async function sequential(times: number, request: () => Promise<{ status: number }>): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < times; i++) statuses.push((await request()).status);
  return statuses;
}

/** The backend sees exactly one message framing: chunked or a length, never both. */
function assertOneFraming(request: RawRequest): void {
  const te = headerValues(request, 'transfer-encoding');
  const cl = headerValues(request, 'content-length');
  assert.ok(
    (te.length === 1 && te[0]!.toLowerCase() === 'chunked' && cl.length === 0) ||
      (te.length === 0 && cl.length === 1),
    `one framing expected, the backend saw:\n${request.head}`,
  );
}

/** A malformed request: the expected status, and nothing reaches a backend. */
function rejects(
  name: string,
  bytes: string[],
  expected: number | { gatehouse: number; nginx: number },
): ConformanceCase {
  return {
    name,
    backends: [{ kind: 'raw' }],
    ...(typeof expected === 'number'
      ? {}
      : { differs: { gatehouse: `${expected.gatehouse}`, nginx: `${expected.nginx}` } }),
    async check(env) {
      const [start = '', ...headers] = bytes;
      const [method, target] = start.split(' ');
      const response = await send(env, { method: method ?? 'GET', target: target ?? '/', headers });
      const status = typeof expected === 'number' ? expected : byFront(env, expected);
      assert.equal(response.status, status, describe(response));
      nothingForwarded(env);
    },
  };
}

export const cases: ConformanceCase[] = [
  {
    name: 'Host with a port reaches the backend as the client sent it',
    backends: [{ kind: 'raw' }],
    async check(env) {
      const response = await send(env, { headers: ['Host: client.example:1234'] });
      assert.equal(response.status, 200, describe(response));
      assert.deepEqual(headerValues(onlyRequest(env), 'host'), ['client.example:1234']);
    },
  },
  {
    name: "a client's X-Real-IP is replaced by the address of the peer that connected",
    backends: [{ kind: 'raw' }],
    async check(env) {
      await send(env, { headers: ['X-Real-IP: 198.51.100.9'] });
      assert.deepEqual(headerValues(onlyRequest(env), 'x-real-ip'), [PEER]);
    },
  },
  {
    name: 'without a client X-Forwarded-For the backend sees the peer address alone',
    backends: [{ kind: 'raw' }],
    async check(env) {
      await send(env, {});
      assert.deepEqual(headerValues(onlyRequest(env), 'x-forwarded-for'), [PEER]);
    },
  },
  {
    name: 'a client X-Forwarded-For gets the peer appended with ", "',
    backends: [{ kind: 'raw' }],
    async check(env) {
      await send(env, { headers: ['X-Forwarded-For: 203.0.113.7'] });
      assert.deepEqual(headerValues(onlyRequest(env), 'x-forwarded-for'), [`203.0.113.7, ${PEER}`]);
    },
  },
  {
    name: 'repeated X-Forwarded-For lines are joined into one, then the peer appended',
    backends: [{ kind: 'raw' }],
    async check(env) {
      await send(env, { headers: ['X-Forwarded-For: 203.0.113.7', 'X-Forwarded-For: 198.51.100.2'] });
      assert.deepEqual(headerValues(onlyRequest(env), 'x-forwarded-for'), [
        `203.0.113.7, 198.51.100.2, ${PEER}`,
      ]);
    },
  },
  {
    name: "X-Forwarded-Proto is the scheme the front was reached with, not an untrusted client's claim",
    backends: [{ kind: 'raw' }],
    async check(env) {
      await send(env, { headers: ['X-Forwarded-Proto: https'] });
      assert.deepEqual(headerValues(onlyRequest(env), 'x-forwarded-proto'), ['http']);
    },
  },
  {
    name: "an untrusted client's X-Request-Id is replaced by the front's, which the client gets back",
    backends: [{ kind: 'raw' }],
    async check(env) {
      const response = await send(env, { headers: ['X-Request-Id: chosen-by-client'] });
      const forwarded = headerValues(onlyRequest(env), 'x-request-id');
      assert.equal(forwarded.length, 1);
      assert.notEqual(forwarded[0], 'chosen-by-client');
      assert.match(forwarded[0]!, /^[\w-]{8,}$/);
      assert.deepEqual(headerValues(response, 'x-request-id'), forwarded);
    },
  },
  {
    name: 'from a trusted proxy, X-Forwarded-For, X-Forwarded-Proto and X-Request-Id are believed',
    backends: [{ kind: 'raw' }],
    overrides: { trusted_proxies: ['127.0.0.1/32'] },
    async check(env) {
      await send(env, {
        headers: [
          'X-Forwarded-For: 203.0.113.7',
          'X-Real-IP: 198.51.100.9',
          'X-Forwarded-Proto: https',
          'X-Request-Id: from-the-edge-1',
        ],
      });
      const request = onlyRequest(env);
      assert.deepEqual(headerValues(request, 'x-real-ip'), ['203.0.113.7']);
      assert.deepEqual(headerValues(request, 'x-forwarded-for'), [`203.0.113.7, ${PEER}`]);
      assert.deepEqual(headerValues(request, 'x-forwarded-proto'), ['https']);
      assert.deepEqual(headerValues(request, 'x-request-id'), ['from-the-edge-1']);
    },
  },
  {
    name: 'hop-by-hop request headers (Connection: close, Keep-Alive, TE, Trailer, Proxy-*) are not forwarded',
    backends: [{ kind: 'raw' }],
    async check(env) {
      const response = await send(env, {
        headers: [
          'Connection: close',
          'Keep-Alive: timeout=5',
          'TE: trailers',
          'Trailer: X-Checksum',
          'Proxy-Connection: keep-alive',
          'Proxy-Authorization: Basic dXNlcjpwYXNz',
        ],
      });
      assert.equal(response.status, 200, describe(response));
      const request = onlyRequest(env);
      for (const name of ['keep-alive', 'te', 'trailer', 'proxy-connection', 'proxy-authorization']) {
        assert.deepEqual(headerValues(request, name), [], `${name} reached the backend:\n${request.head}`);
      }
      // The client's close is for its own connection: the pooled upstream one stays open.
      assert.doesNotMatch(headerValue(request, 'connection') ?? '', /close/i, request.head);
    },
  },
  {
    name: 'a header named in Connection is not forwarded (nginx 1.22 forwards it)',
    backends: [{ kind: 'raw' }],
    differs: {
      gatehouse: 'dropped, as RFC 9110 asks',
      nginx: 'forwarded: nginx cannot drop headers named in Connection',
    },
    async check(env) {
      await send(env, { headers: ['Connection: close, X-Hop-Secret', 'X-Hop-Secret: 42'] });
      const expected = byFront(env, { gatehouse: [], nginx: ['42'] });
      assert.deepEqual(headerValues(onlyRequest(env), 'x-hop-secret'), expected);
    },
  },
  {
    name: 'Upgrade: h2c never reaches the backend; the request is answered as plain HTTP/1.1',
    backends: [{ kind: 'raw' }],
    async check(env) {
      const response = await send(env, {
        headers: [
          'Connection: Upgrade, HTTP2-Settings',
          'Upgrade: h2c',
          'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA',
        ],
      });
      assert.equal(response.status, 200, describe(response));
      const request = onlyRequest(env);
      assert.deepEqual(headerValues(request, 'upgrade'), [], request.head);
      assert.doesNotMatch(headerValue(request, 'connection') ?? '', /upgrade/i, request.head);
    },
  },
  {
    name: 'hop-by-hop response headers (Keep-Alive, Proxy-Authenticate) do not reach the client',
    backends: [
      { kind: 'raw', answer: { headers: { 'Keep-Alive': 'timeout=99', 'Proxy-Authenticate': 'Basic' } } },
    ],
    async check(env) {
      const response = await send(env, {});
      assert.equal(response.status, 200, describe(response));
      // A front may announce its own client keep-alive; the backend's must not pass through.
      assert.ok(!headerValues(response, 'keep-alive').includes('timeout=99'), describe(response));
      assert.deepEqual(headerValues(response, 'proxy-authenticate'), [], describe(response));
    },
  },
  {
    name: 'upstream connections are kept alive and reused across client connections',
    backends: [{ kind: 'raw' }],
    async check(env) {
      const statuses = await sequential(10, () => send(env, { headers: ['Connection: close'] }));
      assert.deepEqual(statuses, Array(10).fill(200));
      assert.equal(env.raw[0]!.requests.length, 10);
      assert.ok(
        env.raw[0]!.connections <= 2,
        `10 requests took ${env.raw[0]!.connections} upstream connections`,
      );
    },
  },
  {
    name: 'upstream.keepalive caps the idle upstream connections for the whole pool, not per server',
    backends: [
      { kind: 'raw', answer: { delay: 300 } },
      { kind: 'raw', answer: { delay: 300 } },
    ],
    overrides: { upstream: { keepalive: 2 } },
    async check(env) {
      // Eight at once: round robin gives each backend four, each on a connection of its own.
      const responses = await Promise.all(Array.from({ length: 8 }, () => send(env, {})));
      assert.deepEqual(
        responses.map((r) => r.status),
        Array(8).fill(200),
      );
      const open = () => env.raw.reduce((n, b) => n + b.open, 0);
      for (let waited = 0; open() > 2 && waited < 3000; waited += 50) await sleep(50);
      await sleep(300);
      assert.equal(open(), 2, `${env.raw.map((b) => b.open).join(' + ')} idle upstream connections kept`);
    },
  },
  {
    name: 'round robin spreads requests evenly over two backends',
    backends: [{ kind: 'raw' }, { kind: 'raw' }],
    async check(env) {
      await sequential(10, () => send(env, {}));
      assert.deepEqual(count(env), [5, 5]);
    },
  },
  {
    name: 'weighted round robin follows the weights (3:1)',
    backends: [{ kind: 'raw' }, { kind: 'raw' }],
    overrides: (servers) => ({
      upstream: { servers: [{ address: servers[0], weight: 3 }, { address: servers[1] }] },
    }),
    async check(env) {
      await sequential(8, () => send(env, {}));
      assert.deepEqual(count(env), [6, 2]);
    },
  },
  {
    name: 'a 5 MB body reaches the backend byte for byte',
    backends: [{ kind: 'raw' }],
    overrides: { client_max_body_size: '10m' },
    async check(env) {
      const body = Buffer.alloc(5 * 1024 * 1024);
      for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);
      const response = await send(env, { method: 'POST', target: '/upload', body, timeout: 30_000 });
      assert.equal(response.status, 200, describe(response));
      const request = onlyRequest(env);
      assert.equal(request.body.length, body.length);
      assert.equal(sha(request.body), sha(body));
    },
  },
  {
    name: 'a chunked body reaches the backend whole, in exactly one framing',
    backends: [{ kind: 'raw' }],
    async check(env) {
      const chunks = ['first chunk, ', 'second, ', 'x'.repeat(3000)];
      const body = `${chunks.map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`;
      const response = await send(env, { method: 'POST', headers: ['Transfer-Encoding: chunked'], body });
      assert.equal(response.status, 200, describe(response));
      const request = onlyRequest(env);
      const expected = chunks.join('');
      assert.ok(
        request.body.toString() === expected,
        `the backend got ${request.body.length} of ${expected.length} body bytes:\n${request.head}`,
      );
      assertOneFraming(request);
    },
  },
  {
    name: 'a body over client_max_body_size gets 413 and never reaches a backend',
    backends: [{ kind: 'raw' }],
    overrides: { client_max_body_size: '1k' },
    async check(env) {
      const response = await send(env, { method: 'POST', body: Buffer.alloc(4096, 'a') });
      assert.equal(response.status, 413, describe(response));
      nothingForwarded(env);
    },
  },
  {
    name: 'Content-Length together with Transfer-Encoding is refused (400) or forwarded in one framing',
    backends: [{ kind: 'raw' }],
    async check(env) {
      const response = await send(env, {
        method: 'POST',
        headers: ['Content-Length: 5', 'Transfer-Encoding: chunked'],
        body: '0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
      });
      if (response.status === 400) {
        nothingForwarded(env);
        return;
      }
      const request = onlyRequest(env);
      assertOneFraming(request);
      assert.ok(
        !env.raw[0]!.requests.some((r) => r.target === '/smuggled'),
        'a smuggled request reached the backend',
      );
    },
  },
  rejects(
    'two different Content-Length values are refused with 400',
    ['POST /', 'Content-Length: 3', 'Content-Length: 4'],
    400,
  ),
  rejects('a bare CR inside a header is refused with 400', ['GET /', 'X-Bad: a\rb'], 400),
  rejects('a garbage request line is refused with 400', ['GARBAGE\x01 ::: nonsense'], 400),
  rejects(
    'a header line over client_max_header_size is refused (431; nginx 400)',
    ['GET /', `X-Big: ${'a'.repeat(20 * 1024)}`],
    {
      gatehouse: 431,
      nginx: 400,
    },
  ),
  rejects(
    'several headers that together exceed client_max_header_size are refused (431; nginx 400)',
    ['GET /', ...Array.from({ length: 4 }, (_, i) => `X-Part-${i}: ${'b'.repeat(5000)}`)],
    { gatehouse: 431, nginx: 400 },
  ),
  rejects(
    'a request line over client_max_header_size is refused (431; nginx 414)',
    [`GET /${'a'.repeat(20 * 1024)}`],
    {
      gatehouse: 431,
      nginx: 414,
    },
  ),
  {
    name: 'a request head under client_max_header_size (12k in three headers) is forwarded whole',
    backends: [{ kind: 'raw' }],
    async check(env) {
      const headers = Array.from({ length: 3 }, (_, i) => `X-Part-${i}: ${String(i).repeat(4000)}`);
      const response = await send(env, { headers });
      assert.equal(response.status, 200, describe(response));
      const request = onlyRequest(env);
      for (let i = 0; i < 3; i++) assert.equal(headerValue(request, `x-part-${i}`), String(i).repeat(4000));
    },
  },
  {
    name: 'a WebSocket tunnel to the sample worker echoes both ways',
    backends: [{ kind: 'worker' }],
    async check(env) {
      const ws = new WebSocket(`ws://127.0.0.1:${env.port}/ws`);
      const messages: string[] = [];
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no echo within 5 s')), 5000);
          ws.once('error', reject);
          ws.once('open', () => ws.send('hello'));
          ws.on('message', (data) => {
            messages.push(String(data));
            if (messages.length === 1) ws.send(Buffer.from('second'), { binary: false });
            else {
              clearTimeout(timer);
              resolve();
            }
          });
        });
      } finally {
        ws.terminate();
      }
      assert.deepEqual(messages, ['hello', 'second']);
    },
  },
  {
    name: 'the sample worker sees the peer as X-Real-IP and the client list plus peer as X-Forwarded-For',
    backends: [{ kind: 'worker' }],
    async check(env) {
      const response = await send(env, {
        target: '/headers',
        headers: ['Host: client.example:1234', 'X-Real-IP: 198.51.100.9', 'X-Forwarded-For: 203.0.113.7'],
      });
      assert.equal(response.status, 200, describe(response));
      const { headers } = JSON.parse(response.body.toString()) as { headers: Record<string, string> };
      assert.equal(headers['x-real-ip'], PEER);
      assert.equal(headers['x-forwarded-for'], `203.0.113.7, ${PEER}`);
      assert.equal(headers.host, 'client.example:1234');
    },
  },
  {
    name: 'a backend slower than timeouts.read gets 504',
    backends: [{ kind: 'raw', answer: { delay: 3000 } }],
    overrides: { timeouts: { read: '300ms' } },
    async check(env) {
      const response = await send(env, { timeout: 5000 });
      assert.equal(response.status, 504, describe(response));
    },
  },
  {
    name: 'a GET whose backend resets before answering is retried on another backend',
    backends: [{ kind: 'raw', answer: 'reset' }, { kind: 'raw' }],
    async check(env) {
      // Round robin sends one of the first two requests to the resetting backend.
      const responses = [await send(env, {}), await send(env, {})];
      for (const response of responses) assert.equal(response.status, 200, describe(response));
      assert.ok(env.raw[0]!.requests.length >= 1, 'the resetting backend was never tried');
      assert.ok(responses.every((r) => r.body.toString() === 'backend-2\n'));
    },
  },
  {
    name: 'a POST whose backend resets after receiving it gets 502 and is not re-sent',
    backends: [{ kind: 'raw', answer: 'reset' }, { kind: 'raw' }],
    async check(env) {
      const statuses = new Map<string, number>();
      for (const id of ['post-1', 'post-2']) {
        const response = await send(env, { method: 'POST', headers: [`X-Case-Id: ${id}`], body: 'payload' });
        statuses.set(id, response.status);
        if (env.raw[0]!.requests.length > 0) break;
      }
      const reset = env.raw[0]!.requests.map((r) => headerValue(r, 'x-case-id'));
      assert.equal(reset.length, 1, 'the resetting backend got exactly one POST');
      assert.equal(statuses.get(reset[0]!), 502);
      const resent = env.raw[1]!.requests.filter((r) => headerValue(r, 'x-case-id') === reset[0]);
      assert.deepEqual(resent, [], 'the POST was re-sent to the other backend');
    },
  },
  {
    name: 'a worker that dies between its response head and its body',
    backends: [{ kind: 'raw', answer: 'head-then-reset' }, { kind: 'raw' }],
    differs: {
      gatehouse: 'the head is held until the first body byte: a GET goes to another worker (a POST gets 502)',
      nginx: 'the head reaches the client, then the connection is closed mid-response',
    },
    async check(env) {
      // Round robin starts with the worker that dies after its head.
      const sent = send(env, {});
      if (byFront(env, { gatehouse: true, nginx: false })) {
        const response = await sent;
        assert.equal(response.status, 200, describe(response));
        assert.equal(response.body.toString(), 'backend-2\n', describe(response));
      } else {
        await assert.rejects(sent, /closed before a complete response: "HTTP\/1\.1 200 /);
      }
      assert.equal(env.raw[0]!.requests.length, 1);
      assert.equal(env.raw[1]!.requests.length, byFront(env, { gatehouse: 1, nginx: 0 }));
    },
  },
  {
    name: "a worker's 103 Early Hints before its answer",
    backends: [
      {
        kind: 'raw',
        answer: {
          informational: ['HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style'],
          delay: 200,
          // nginx reads the "body" of the 103 it took for the answer until the worker closes; with
          // proxy_buffering on it passes nothing on before (a buffer never fills).
          close: true,
        },
      },
    ],
    differs: {
      gatehouse: 'relayed to an HTTP/1.1 client as it comes, then the 200',
      nginx:
        'taken for the final answer (nginx knows Early Hints from 1.29 on): the 103 goes out with nginx’s headers, then the worker’s real 200 follows as raw bytes, its head untouched by nginx — all of it only once the worker closes the connection',
    },
    async check(env) {
      const response = await send(env, {});
      const text = response.raw.toString('latin1');
      const [hints = '', final = ''] = text.split(/(?=HTTP\/1\.1 200 )/);
      assert.equal(response.status, 200, describe(response));
      assert.match(hints, /^HTTP\/1\.1 103 Early Hints\r\n/, describe(response));
      assert.match(hints, /\r\nLink: <\/style\.css>; rel=preload; as=style\r\n/i, describe(response));
      // Our proxy relays the 103 and then makes the final answer as always (its request id
      // included); nginx 1.22 has made its answer of the 103 and passes the 200 through as body.
      const finalHeadByFront = /\r\nX-Request-Id: /i.test(final.split('\r\n\r\n')[0] ?? '');
      assert.equal(finalHeadByFront, byFront(env, { gatehouse: true, nginx: false }), describe(response));
    },
  },
  ...bufferingCases,
  {
    name: 'with one backend down no request fails',
    backends: [{ kind: 'down' }, { kind: 'raw' }],
    async check(env) {
      const statuses = await sequential(20, () => send(env, {}));
      assert.deepEqual(statuses, Array(20).fill(200));
      assert.equal(env.raw[0]!.requests.length, 20);
    },
  },
  {
    name: 'with every backend down the client gets 502',
    backends: [{ kind: 'down' }, { kind: 'down' }],
    async check(env) {
      const response = await send(env, {});
      assert.equal(response.status, 502, describe(response));
    },
  },
  ...routeCases,
  ...compressionCases,
  ...limitCases,
  ...staticCases,
];
