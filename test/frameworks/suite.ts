import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { packageRoot } from '../../config/index.js';
import { describeLoad, explainFailures, loadDuring, startSlowPost } from '../helpers/load.js';
import { fetchStatus, waitFor } from '../helpers/pm2.js';
import { type InProcessProxy, json, request, servers, startProxy } from '../helpers/proxy.js';
import { assertEchoes } from '../helpers/websocket.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';

/** The framework examples in app/examples/, by directory name. */
export type Framework = 'express' | 'fastify' | 'koa' | 'hono';

/** The compiled example module of a framework, as `gatehouse worker --app` and workers.app take it. */
export function exampleApp(framework: Framework): string {
  return join(packageRoot, 'dist', 'app', 'examples', framework, 'app.js');
}

export interface FrameworkCase {
  framework: Framework;
  /** As the page spells it ("Hello from Express"). */
  title: string;
  /** Whether the example has GET /early-hints (103, then 200). */
  earlyHints: boolean;
}

/** GET /whoami of every example. */
interface Whoami {
  framework: Framework;
  ip: string;
  protocol: string;
  requestId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SPOOFED = { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https' };
/** Another loopback address: a client the worker and the framework can tell apart from the proxy. */
const ELSEWHERE = '127.0.0.2';
const LINK = '</style.css>; rel=preload; as=style';

/**
 * One framework's example app, served by two real `gatehouse worker --app …` processes behind the
 * proxy: every route through the proxy, trust of the proxy's forwarded headers, a thrown error,
 * Early Hints, WebSocket, and a SIGTERM drain under load (last: it stops one of the workers).
 */
export function frameworkSuite({ framework, title, earlyHints }: FrameworkCase): void {
  describe(`the ${title} example behind the proxy`, { timeout: 120_000 }, () => {
    let workers: WorkerProcess[] = [];
    let proxy: InProcessProxy;

    before(async () => {
      workers = await Promise.all([0, 1].map(() => startWorker({ app: exampleApp(framework) })));
      proxy = await startProxy(null, {
        upstream: { servers: servers(...workers.map((w) => w.port)) },
        // The SIGTERM test holds POST bodies back so that requests sit in flight on the workers:
        // the proxy must stream them (with request buffering it would hold them itself).
        buffering: { request: false },
      });
    });
    after(async () => {
      await proxy?.close();
      await Promise.all(workers.map((w) => w.stop()));
    });

    test('GET / is the page, GET /healthz answers, each with the request id', async () => {
      const page = await request(proxy.port);
      assert.equal(page.status, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.match(page.text, new RegExp(`<h1>Hello from ${title}</h1>`));
      assert.match(String(page.headers['x-request-id']), UUID);
      const health = await request(proxy.port, { path: '/healthz' });
      assert.equal(health.status, 200);
      assert.equal(health.text, 'ok\n');
    });

    test('POST /api/greet: JSON in, JSON out; a body that is not JSON is a 400, not a 500', async () => {
      const greet = (body: string) =>
        request(proxy.port, {
          method: 'POST',
          path: '/api/greet',
          headers: { 'content-type': 'application/json' },
          body,
        });
      const ok = await greet(JSON.stringify({ name: 'Ada' }));
      assert.equal(ok.status, 200);
      assert.match(String(ok.headers['content-type']), /^application\/json/);
      assert.deepEqual(json(ok), { framework, greeting: 'Hello, Ada!' });
      const bad = await greet('{"name": ');
      assert.equal(bad.status, 400, bad.text);
    });

    test('POST /echo sends the body back; GET /stream comes chunked, every chunk in order', async () => {
      const body = `${framework} echo ${'x'.repeat(10_000)}`;
      const echo = await request(proxy.port, {
        method: 'POST',
        path: '/echo',
        headers: { 'content-type': 'text/plain' },
        body,
      });
      assert.equal(echo.status, 200);
      assert.equal(echo.text, body);
      const stream = await request(proxy.port, { path: '/stream' });
      assert.equal(stream.status, 200);
      // No Content-Length: the framework wrote the chunks as they came, and the proxy passed them on so.
      assert.equal(stream.headers['transfer-encoding'], 'chunked');
      assert.equal(stream.headers['content-length'], undefined);
      assert.equal(stream.text, [1, 2, 3, 4, 5].map((i) => `chunk ${i} of 5\n`).join(''));
    });

    test("a route that throws: 500 naming the proxy's request id, which the worker logged; the next request is served", async () => {
      // The proxy does not believe a client's X-Request-Id (trusted_proxies is empty): it makes its own.
      const boom = await request(proxy.port, { path: '/boom', headers: { 'x-request-id': 'client-made' } });
      assert.equal(boom.status, 500);
      const id = String(boom.headers['x-request-id']);
      assert.match(id, UUID);
      assert.match(boom.text, new RegExp(`Request id: ${id}`));
      // The worker that served it logged the request under that id, and the error on stderr.
      const [served, line] = await waitFor(`a worker's log line for request ${id}`, async () => {
        for (const w of workers) {
          const found = w.logs.find((l) => l.msg === 'request' && l.requestId === id);
          if (found) return [w, found] as const;
        }
        return null;
      });
      assert.equal(line.status, 500);
      // stderr is a pipe of its own: the line may come after the request's log line on stdout.
      await waitFor(`the error with request id ${id} on stderr`, async () =>
        new RegExp(`request ${id} failed:[^]*boom`).test(served.stderr()),
      );
      assert.equal((await request(proxy.port)).status, 200);
    });

    test('the framework sees the client address and scheme the proxy saw; a spoofed X-Forwarded-For never reaches it', async () => {
      const whoami = async (port: number, localAddress: string) => {
        const res = await request(port, { path: '/whoami', headers: SPOOFED, localAddress });
        assert.equal(res.status, 200, res.text);
        const { ip, protocol } = json<Whoami>(res);
        return { ip, protocol };
      };
      // Through the proxy, which believes no client (trusted_proxies: []): it keeps the client's list
      // and appends the address it saw, "6.6.6.6, <client>", and sets X-Forwarded-Proto: http. The
      // framework believes one hop from the proxy's address: the client. From 127.0.0.2 that is not
      // the worker's peer (the proxy, 127.0.0.1), so the framework did read X-Forwarded-For.
      assert.deepEqual(await whoami(proxy.port, ELSEWHERE), { ip: ELSEWHERE, protocol: 'http' });
      // A client on the proxy's own address: only one hop is believed, so 6.6.6.6 stays out here too.
      assert.deepEqual(await whoami(proxy.port, '127.0.0.1'), { ip: '127.0.0.1', protocol: 'http' });
      const worker = workers[0]!.port;
      // Straight to the worker from an address that is not the proxy's: the headers are not believed.
      assert.deepEqual(await whoami(worker, ELSEWHERE), { ip: ELSEWHERE, protocol: 'http' });
      // Straight to the worker from the proxy's address: believed. This is the boundary of trust by
      // address; nothing at the worker tells the proxy from another process on 127.0.0.1, so the
      // workers' ports must be reachable by the proxy only (loopback, as by default).
      assert.deepEqual(await whoami(worker, '127.0.0.1'), { ip: '6.6.6.6', protocol: 'https' });
    });

    test('WebSocket text and binary messages are echoed through the proxy', async (t) => {
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/ws`);
      t.after(() => ws.terminate());
      await once(ws, 'open');
      await assertEchoes(ws, 'hello through gatehouse');
    });

    if (earlyHints) {
      test('GET /early-hints: the 103 with its Link comes first, then the 200 — from the worker and through the proxy', async () => {
        const heading = `<h1>Hello from ${title}</h1>`;
        for (const [where, port] of [
          ['worker', workers[0]!.port],
          ['proxy', proxy.port],
        ] as const) {
          const { interim, status, text } = await requestWithInterim(port, '/early-hints');
          // One comparison, so a failure shows all that came: the interim responses, status and page.
          assert.deepEqual(
            { interim: interim.map((r) => [r.status, r.headers.link]), status, page: text.includes(heading) },
            { interim: [[103, LINK]], status: 200, page: true },
            `${where}: one 103 with the Link header, then the 200 with the page`,
          );
        }
      });
    }

    test('SIGTERM to a worker under load: its in-flight requests complete, WebSockets get 1001, no request fails, exit 0', async (t) => {
      const statusUrl = `http://127.0.0.1:${proxy.statusPort}/status`;
      // POSTs whose body is held back sit in flight on the workers; the proxy's status page counts
      // them per upstream, and the worker holding the most is stopped (no guess, no sampling).
      const held = Array.from({ length: 4 }, (_, i) =>
        startSlowPost(`http://127.0.0.1:${proxy.port}`, `held ${i}`),
      );
      const snapshot = await waitFor('the held-back POSTs in flight', async () => {
        const s = await fetchStatus(statusUrl);
        return s && s.upstreams.reduce((sum, u) => sum + u.inFlight, 0) === held.length ? s : null;
      });
      const target = [...snapshot.upstreams].sort((a, b) => b.inFlight - a.inFlight)[0]!;
      const victim = workers.find((w) => target.address === `127.0.0.1:${w.port}`)!;
      assert.ok(victim && target.inFlight > 0, JSON.stringify(snapshot.upstreams));
      const ws = new WebSocket(`ws://127.0.0.1:${victim.port}/ws`);
      t.after(() => ws.terminate());
      await once(ws, 'open');
      const goodbye = once(ws, 'close') as Promise<[number, Buffer]>;

      const { report, value: exit } = await loadDuring(
        `http://127.0.0.1:${proxy.port}`,
        async () => {
          victim.child.kill('SIGTERM');
          await victim.waitForLog((l) => l.msg === 'draining');
          for (const post of held) post.finish();
          return victim.exited;
        },
        { warmup: 500, cooldown: 500, settle: 20 },
      );
      t.diagnostic(describeLoad(`SIGTERM to the ${title} worker on ${target.address}`, report));
      assert.deepEqual(exit, { code: 0, signal: null }, victim.stderr());
      assert.ok(report.get.total > 0 && report.post.total > 0, 'GETs and POSTs ran');
      assert.equal(report.failed, 0, explainFailures(report.failedResults, proxy.logs));
      const results = await Promise.all(held.map((post) => post.result));
      assert.deepEqual(
        results.filter((r) => r.error),
        [],
        `${target.inFlight} held-back POSTs were on the stopped worker`,
      );
      const [code] = await goodbye;
      assert.equal(code, 1001);
    });
  });
}

interface Interim {
  status: number;
  headers: IncomingHttpHeaders;
}

/**
 * One GET on a fresh HTTP/1.1 connection that records the interim (1xx) responses before the final
 * one, as node:http's 'information' event reports them. Bounded: no final response within
 * `timeout` ms rejects, saying which interim ones had come.
 */
function requestWithInterim(
  port: number,
  path: string,
  timeout = 10_000,
): Promise<{ interim: Interim[]; status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const interim: Interim[] = [];
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ interim, status: res.statusCode ?? 0, text });
      });
      res.on('error', reject);
    });
    req.on('information', (info) => interim.push({ status: info.statusCode, headers: info.headers }));
    let head = 'no final response head';
    req.on('response', (res) => {
      head = `the ${res.statusCode} head but not the end of its body`;
    });
    const timer = setTimeout(
      () =>
        req.destroy(new Error(`${head} within ${timeout} ms; interim responses: ${JSON.stringify(interim)}`)),
      timeout,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}
