import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { packageRoot } from '../../config/index.js';
import type { StatusSnapshot } from '../../stack/status.js';
import {
  type HeadersEcho,
  head,
  json,
  type ProxyProcess,
  rawExchange,
  request,
  startProxyProcess,
} from '../helpers/proxy.js';
import { createRawBackend, headerValue, type RawBackend } from '../helpers/raw-backend.js';
import { assertEchoes } from '../helpers/websocket.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';

/**
 * Routes end to end: real worker processes (two sample sites, the WSGI hello app) behind a real
 * proxy process, the route table in its config file.
 */

/** The /headers JSON in a raw response (chunked or not: the object is the only braces in it). */
function echoIn(raw: string): HeadersEcho {
  return JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1)) as HeadersEcho;
}

const HELLO = join(packageRoot, 'dist', 'app', 'examples', 'wsgi-hello.js');

describe('absolute-form request targets, with or without routes', () => {
  let backend: RawBackend;
  let proxy: ProxyProcess;
  before(async () => {
    backend = await createRawBackend({ name: 'raw' });
    proxy = await startProxyProcess(null, {
      config: { upstream: { servers: [{ address: backend.address }] } },
    });
  });
  after(async () => {
    await proxy?.stop();
    await backend?.close();
  });

  test('GET http://a.example/x reaches the worker as GET /x with Host a.example, whatever Host the client sent', async () => {
    const answer = await rawExchange(
      proxy.port,
      head('GET http://a.example/x?y=1 HTTP/1.1', 'Host: wrong.example', 'Connection: close'),
      { untilResponse: true },
    );
    assert.equal(answer.status, 200, answer.text);
    const seen = backend.requests.at(-1)!;
    assert.equal(seen.startLine, 'GET /x?y=1 HTTP/1.1');
    assert.equal(headerValue(seen, 'host'), 'a.example');
  });

  test('an absolute-form target with userinfo is a 400, never forwarded', async () => {
    const before = backend.requests.length;
    const answer = await rawExchange(
      proxy.port,
      head('GET http://me@a.example/ HTTP/1.1', 'Host: a.example', 'Connection: close'),
      { untilResponse: true },
    );
    assert.equal(answer.status, 400, answer.text);
    assert.equal(backend.requests.length, before);
  });
});

describe('routes: several apps behind one proxy', () => {
  let site: WorkerProcess;
  let api: WorkerProcess;
  let hello: WorkerProcess;
  let proxy: ProxyProcess;
  before(async () => {
    [site, api, hello] = await Promise.all([startWorker(), startWorker(), startWorker({ app: HELLO })]);
    proxy = await startProxyProcess(null, {
      config: {
        upstream: { servers: [{ address: `127.0.0.1:${site.port}` }] },
        routes: [
          { name: 'site', host: 'site.test' },
          {
            name: 'api',
            host: 'site.test',
            path: '/api/',
            strip_prefix: true,
            upstream: { servers: [{ address: `127.0.0.1:${api.port}` }] },
          },
          {
            name: 'hello',
            host: '*.hello.test',
            upstream: { servers: [{ address: `127.0.0.1:${hello.port}` }] },
          },
          {
            name: 'old',
            host: 'site.test',
            path: '/old/',
            strip_prefix: true,
            redirect: { to: 'https://new.test/base', status: 308 },
          },
        ],
      },
    });
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([site?.stop(), api?.stop(), hello?.stop()]);
  });

  test('routes: the host picks the pool (exact name, then a *.wildcard)', async () => {
    const home = await request(proxy.port, { path: '/headers', headers: { host: 'site.test' } });
    assert.equal(json<HeadersEcho>(home).worker.port, site.port);
    const wild = await request(proxy.port, { path: '/anything', headers: { host: 'v2.hello.test' } });
    assert.equal(wild.status, 200);
    assert.match(wild.text, /Hello World!/);
  });

  test('the longest path prefix wins, and strip_prefix takes the prefix off before the pool', async () => {
    // The sample site has /headers, not /api/headers: a 200 from the api worker proves the strip.
    const stripped = await request(proxy.port, { path: '/api/headers?x=1', headers: { host: 'site.test' } });
    assert.equal(stripped.status, 200, stripped.text);
    assert.equal(json<HeadersEcho>(stripped).worker.port, api.port);
    const shorter = await request(proxy.port, { path: '/headers', headers: { host: 'site.test' } });
    assert.equal(json<HeadersEcho>(shorter).worker.port, site.port);
  });

  test('a host no route names gets 404 from the proxy, no worker asked', async () => {
    const answer = await request(proxy.port, { path: '/headers', headers: { host: 'unknown.test' } });
    assert.equal(answer.status, 404);
    assert.match(answer.text, /404 Not Found[\s\S]*gatehouse/);
  });

  test('an absolute-form target is routed by its authority, not the Host header', async () => {
    const answer = await rawExchange(
      proxy.port,
      head('GET http://site.test/api/headers HTTP/1.1', 'Host: unknown.test', 'Connection: close'),
      { untilResponse: true },
    );
    assert.equal(answer.status, 200, answer.text);
    const body = echoIn(answer.text);
    assert.equal(body.worker.port, api.port);
    assert.equal(body.headers.host, 'site.test');
  });

  test('a redirect route answers itself: Location is `to` with the stripped path and the query', async () => {
    const answer = await request(proxy.port, { path: '/old/a/b?c=1', headers: { host: 'site.test' } });
    assert.equal(answer.status, 308);
    assert.equal(answer.headers.location, 'https://new.test/base/a/b?c=1');
  });

  test('a path climbing above the root is a 400 (it could otherwise slip past a route)', async () => {
    const answer = await rawExchange(
      proxy.port,
      head('GET /api/../../headers HTTP/1.1', 'Host: site.test', 'Connection: close'),
      { untilResponse: true },
    );
    assert.equal(answer.status, 400, answer.text);
  });

  test('a dot segment routes as nginx normalises it: /api/../headers is the site, not the api pool', async () => {
    const answer = await rawExchange(
      proxy.port,
      head('GET /api/../headers HTTP/1.1', 'Host: site.test', 'Connection: close'),
      { untilResponse: true },
    );
    assert.equal(answer.status, 200, answer.text);
    const body = echoIn(answer.text);
    assert.equal(body.worker.port, site.port);
  });

  test('a WebSocket handshake takes its route too: /api/ws reaches the api worker as /ws and echoes', async (t) => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/api/ws`, { headers: { host: 'site.test' } });
    t.after(() => ws.terminate());
    await once(ws, 'open');
    await assertEchoes(ws, 'through the api route');
  });

  test('status and metrics per route: /status groups upstreams by route, metrics carry a route label', async () => {
    await request(proxy.port, { path: '/api/headers', headers: { host: 'site.test' } });
    await request(proxy.port, { path: '/', headers: { host: 'nowhere.test' } });
    const status = json<StatusSnapshot>(
      await request(proxy.statusPort, { path: '/status', headers: { accept: 'application/json' } }),
    );
    assert.deepEqual(
      status.upstreams.map((u) => [u.route, u.address]),
      [
        ['default', `127.0.0.1:${site.port}`],
        ['api', `127.0.0.1:${api.port}`],
        ['hello', `127.0.0.1:${hello.port}`],
      ],
    );
    const page = (await request(proxy.statusPort, { path: '/status' })).text;
    for (const route of ['default', 'api', 'hello']) assert.ok(page.includes(`data-route="${route}"`), route);
    const metrics = (await request(proxy.statusPort, { path: '/metrics' })).text;
    assert.match(
      metrics,
      new RegExp(
        `^gatehouse_requests_total\\{route="api",upstream="127\\.0\\.0\\.1:${api.port}",code_class="2xx"\\} [1-9]`,
        'm',
      ),
    );
    assert.match(
      metrics,
      /^gatehouse_requests_total\{route="none",upstream="none",code_class="4xx"\} [1-9]/m,
    );
    assert.match(
      metrics,
      new RegExp(
        `^gatehouse_upstream_healthy\\{route="hello",upstream="127\\.0\\.0\\.1:${hello.port}"\\} 1`,
        'm',
      ),
    );
  });
});
