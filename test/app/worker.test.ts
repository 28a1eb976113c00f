import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { packageRoot } from '../../config/index.js';
import { parseWorkerHeader, WORKER_HEADER } from '../../stack/worker-identity.js';
import { freePort } from '../helpers/net.js';
import { assertEchoes } from '../helpers/websocket.js';
import {
  gatehouseBin,
  startWorker,
  type WorkerProcess,
  workerProcessEnv,
} from '../helpers/worker-process.js';

const fixtures = join(packageRoot, 'dist', 'test', 'fixtures', 'apps');
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BODY_LIMIT = 4096;

/** Sends raw bytes and returns everything the worker wrote back until it closed the connection. */
async function rawExchange(port: number, head: string, body: Buffer | string = ''): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // The worker may close before it read all we sent; that is its right, and not what is tested.
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(head);
  if (body.length > 0) socket.write(body);
  const timer = setTimeout(() => socket.destroy(), 10_000);
  await once(socket, 'close');
  clearTimeout(timer);
  return Buffer.concat(chunks).toString();
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function refusedWithin(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await connectionRefused(port)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function nextData(res: IncomingMessage): Promise<string> {
  return once(res, 'data').then(([chunk]) => String(chunk));
}

describe('the sample site served by a worker process', { timeout: 60_000 }, () => {
  let worker: WorkerProcess;
  const url = (path: string) => `http://127.0.0.1:${worker.port}${path}`;

  before(async () => {
    worker = await startWorker({ config: { workers: { body_limit: BODY_LIMIT } } });
  });
  after(() => worker?.stop());

  test('GET / answers the home page', async () => {
    const res = await fetch(url('/'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(await res.text(), /<h1>Home<\/h1>/);
  });

  test('HEAD / answers 200 with the headers and no body', async () => {
    const res = await fetch(url('/'), { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await res.text(), '');
  });

  test('GET /signin answers the form; POST /signin signs the admin in and turns others away', async () => {
    assert.match(await (await fetch(url('/signin'))).text(), /<form action="\/signin" method="post">/);
    const ok = await fetch(url('/signin'), {
      method: 'POST',
      headers: FORM,
      body: 'username=admin&password=password',
    });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /Hello, admin!/);
    const bad = await fetch(url('/signin'), {
      method: 'POST',
      headers: FORM,
      body: 'username=%3Cscript%3E&password=x',
    });
    assert.equal(bad.status, 200);
    const html = await bad.text();
    assert.match(html, /Bad username or password\./);
    assert.match(html, /value="&lt;script&gt;"/);
    assert.doesNotMatch(html, /<script>/);
  });

  test('a malformed form is a 400', async () => {
    const res = await fetch(url('/signin'), {
      method: 'POST',
      headers: FORM,
      body: 'username=%E0%A4%A&password=x',
    });
    assert.equal(res.status, 400);
  });

  test('GET /headers shows the headers as received and which worker answered', async () => {
    const res = await fetch(url('/headers'), { headers: { 'X-Probe': 'seen' } });
    const json = (await res.json()) as {
      headers: Record<string, string>;
      worker: Record<string, number | string>;
    };
    assert.equal(json.headers['x-probe'], 'seen');
    assert.equal(json.headers.host, `127.0.0.1:${worker.port}`);
    // The host name is what tells container replicas apart: they are all pid 7, instance 0, port 3000.
    assert.deepEqual(json.worker, {
      hostname: hostname(),
      pid: worker.child.pid,
      instance: 0,
      port: worker.port,
    });
  });

  test('GET /healthz answers ok, naming the worker and counting the probes it answered', async () => {
    const res = await fetch(url('/healthz'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    const first = parseWorkerHeader(res.headers.get(WORKER_HEADER) ?? undefined);
    assert.ok(first, `${WORKER_HEADER}: ${res.headers.get(WORKER_HEADER)}`);
    assert.deepEqual(
      { ...first, healthProbes: 0 },
      { hostname: hostname(), pid: worker.child.pid, instance: 0, port: worker.port, healthProbes: 0 },
    );
    const again = await fetch(url('/healthz?from=test'));
    await again.text();
    assert.equal(
      parseWorkerHeader(again.headers.get(WORKER_HEADER) ?? undefined)?.healthProbes,
      first.healthProbes + 1,
    );
    const page = await fetch(url('/'));
    await page.text();
    assert.equal(page.headers.get(WORKER_HEADER), null, 'only health answers name the worker');
  });

  test('health probes are not logged per request (debug level only); other requests are, with the host name', async () => {
    for (let i = 0; i < 3; i++) await (await fetch(url('/healthz'))).text();
    await fetch(url('/status/204'), { headers: { 'X-Request-Id': 'after-probes' } });
    const line = await worker.waitForLog((l) => l.msg === 'request' && l.requestId === 'after-probes');
    assert.equal(line.hostname, hostname());
    assert.equal(line.instance, 0);
    assert.equal(line.port, worker.port);
    // Lines come in order: every probe above was answered, and would have been logged, before it.
    assert.deepEqual(
      worker.logs.filter((l) => l.msg === 'request' && String(l.path).startsWith('/healthz')),
      [],
    );
  });

  test('GET /delay/:ms waits and answers', async () => {
    const res = await fetch(url('/delay/20'));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { delay: 20 });
  });

  test('GET /status/:code answers with that status; out of range is a 400', async () => {
    assert.equal((await fetch(url('/status/418'))).status, 418);
    assert.equal((await fetch(url('/status/503'))).status, 503);
    assert.equal((await fetch(url('/status/99'))).status, 400);
  });

  test('an unknown path is a 404 page; a wrong method is a 405 with Allow', async () => {
    const missing = await fetch(url('/nowhere'));
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /<h1>404 Not Found<\/h1>/);
    const wrong = await fetch(url('/signin'), { method: 'PUT', body: 'x' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get('allow'), 'GET, HEAD, POST');
  });

  test('POST /echo streams: each chunk comes back while the upload is still open', async () => {
    const req = httpRequest(url('/echo'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-probe' },
    });
    req.write('first;');
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/x-probe');
    assert.equal(await nextData(res), 'first;');
    req.write('second;');
    assert.equal(await nextData(res), 'second;');
    req.end('third');
    let rest = '';
    for await (const chunk of res) rest += String(chunk);
    assert.equal(rest, 'third');
  });

  test('a declared Content-Length over the body limit is a 413 before the body is sent', async () => {
    const head = `POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: ${BODY_LIMIT + 1}\r\n\r\n`;
    const reply = await rawExchange(worker.port, head);
    assert.match(reply, /^HTTP\/1\.1 413 /);
    assert.match(reply, /\r\nconnection: close\r\n/i);
  });

  test('a chunked form body that grows over the limit is a 413', async () => {
    const head =
      'POST /signin HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n';
    const chunk = `username=${'a'.repeat(BODY_LIMIT)}`;
    const reply = await rawExchange(worker.port, head, `${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    assert.match(reply, /^HTTP\/1\.1 413 /);
  });

  test('GET /ws echoes text as text and binary as binary', async (t) => {
    const ws = new WebSocket(url('/ws').replace('http', 'ws'));
    t.after(() => ws.terminate());
    await once(ws, 'open');
    await assertEchoes(ws, 'hello');
  });

  test('a WebSocket upgrade on another path is answered 404', async () => {
    const ws = new WebSocket(url('/elsewhere').replace('http', 'ws'));
    ws.on('error', () => {});
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
    assert.equal(res.statusCode, 404);
    ws.terminate();
  });

  test('X-Request-Id is honoured when sent, and answered', async () => {
    const res = await fetch(url('/headers'), { headers: { 'X-Request-Id': 'probe-42' } });
    assert.equal(res.headers.get('x-request-id'), 'probe-42');
    const json = (await res.json()) as { headers: Record<string, string> };
    assert.equal(json.headers['x-request-id'], 'probe-42');
    await worker.waitForLog((l) => l.msg === 'request' && l.requestId === 'probe-42');
  });

  test('X-Request-Id is generated when absent or unusable, and answered', async () => {
    for (const sent of [undefined, 'has spaces in it', 'x'.repeat(201)]) {
      const res = await fetch(url('/status/200'), { headers: sent ? { 'X-Request-Id': sent } : {} });
      const id = res.headers.get('x-request-id') ?? '';
      assert.match(id, UUID, `sent ${sent}`);
      await worker.waitForLog((l) => l.msg === 'request' && l.requestId === id);
    }
  });

  test('each request is logged as a JSON line with method, path, status, duration and requestId', async () => {
    await fetch(url('/status/404?from=log-test'), { headers: { 'X-Request-Id': 'log-line-1' } });
    const line = await worker.waitForLog((l) => l.msg === 'request' && l.requestId === 'log-line-1');
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/status/404?from=log-test');
    assert.equal(line.status, 404);
    assert.equal(typeof line.duration, 'number');
    assert.ok((line.duration as number) >= 0);
  });
});

describe('the sample site with diagnostics off', { timeout: 30_000 }, () => {
  let worker: WorkerProcess;
  before(async () => {
    worker = await startWorker({ config: { workers: { diagnostics: false } } });
  });
  after(() => worker?.stop());

  test('the diagnostic routes are 404, /healthz still answers, and /ws refuses the upgrade', async () => {
    const base = `http://127.0.0.1:${worker.port}`;
    assert.equal((await fetch(`${base}/headers`)).status, 404);
    assert.equal((await fetch(`${base}/echo`, { method: 'POST', body: 'x' })).status, 404);
    assert.equal(await (await fetch(`${base}/healthz`)).text(), 'ok');
    const ws = new WebSocket(`ws://127.0.0.1:${worker.port}/ws`);
    ws.on('error', () => {});
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
    assert.equal(res.statusCode, 404);
    ws.terminate();
  });
});

describe('worker lifecycle', { timeout: 60_000 }, () => {
  test("'ready' is sent only once the port accepts connections", async (t) => {
    const port = await freePort();
    const child = fork(gatehouseBin, ['worker'], {
      cwd: packageRoot,
      env: workerProcessEnv({ PORT: String(port) }),
      execArgv: [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    t.after(() => child.kill('SIGKILL'));
    const [message] = await once(child, 'message');
    assert.equal(message, 'ready');
    // Connect at once, before anything else runs: the listening socket must already be there.
    assert.equal(await connectionRefused(port), false);
  });

  test('SIGTERM: the request in flight completes with 200, new connections are refused, exit code 0', async (t) => {
    const worker = await startWorker();
    t.after(() => worker.stop());
    const req = httpRequest(`http://127.0.0.1:${worker.port}/echo`, { method: 'POST' });
    req.write('before;');
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    // The echo proves the app is inside the request when the signal comes.
    assert.equal(await nextData(res), 'before;');

    worker.child.kill('SIGTERM');
    await worker.waitForLog((l) => l.msg === 'draining');
    // The worker logs "draining" just before it closes the listener; the bound only ends a failure.
    assert.equal(await refusedWithin(worker.port, 10_000), true);

    req.end('after');
    let rest = '';
    for await (const chunk of res) rest += String(chunk);
    assert.equal(res.statusCode, 200);
    assert.equal(rest, 'after');
    assert.deepEqual(await worker.exited, { code: 0, signal: null });
  });

  test('an app that throws gets a 500 page naming the request id, and the next request is served', async (t) => {
    const worker = await startWorker({ app: join(fixtures, 'faulty.js') });
    t.after(() => worker.stop());
    const base = `http://127.0.0.1:${worker.port}`;
    for (const path of ['/throw', '/reject']) {
      const res = await fetch(`${base}${path}`);
      assert.equal(res.status, 500, path);
      const id = res.headers.get('x-request-id') ?? '';
      assert.match(id, UUID);
      assert.match(await res.text(), new RegExp(`Request id: ${id}`));
      await worker.waitForLog((l) => l.msg === 'app error' && l.requestId === id);
    }
    const next = await fetch(`${base}/`);
    assert.equal(next.status, 200);
    assert.equal(await next.text(), 'fine\n');
  });

  test('an exception thrown outside any request ends the process with a non-zero code', async (t) => {
    const worker = await startWorker({ app: join(fixtures, 'faulty.js') });
    t.after(() => worker.stop());
    const res = await fetch(`http://127.0.0.1:${worker.port}/crash-later`);
    assert.equal(res.status, 200);
    const { code } = await worker.exited;
    assert.notEqual(code, 0);
    assert.ok(worker.logs.some((l) => l.msg === 'uncaught exception; exiting'));
  });

  test('a plain Node (req, res) listener module is served as a worker', async (t) => {
    const worker = await startWorker({ app: join(fixtures, 'node-listener.js') });
    t.after(() => worker.stop());
    const res = await fetch(`http://127.0.0.1:${worker.port}/any/path?q=1`, {
      headers: { 'X-Request-Id': 'node-1' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-request-id'), 'node-1');
    assert.deepEqual(await res.json(), {
      listener: true,
      method: 'GET',
      url: '/any/path?q=1',
      requestId: 'node-1',
    });
  });

  test('the WSGI hello world is served through a worker', async (t) => {
    const worker = await startWorker({ app: join(packageRoot, 'dist', 'app', 'examples', 'wsgi-hello.js') });
    t.after(() => worker.stop());
    const res = await fetch(`http://127.0.0.1:${worker.port}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html');
    assert.equal(await res.text(), '<h1>Hello World!</h1>');
  });

  test('startWorker rejects with the worker output when the worker dies before listening', async () => {
    await assert.rejects(startWorker({ app: join(fixtures, 'no-such-app.js') }), (err: Error) => {
      assert.match(err.message, /exited \(code 1/, err.message);
      assert.match(err.message, /no-such-app/, err.message);
      return true;
    });
  });
});
