import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { cspRefusal } from '../../proxy/dev-reload/csp.js';
import { CLIENT_SCRIPT, EVENTS_PATH, SCRIPT_PATH } from '../../proxy/dev-reload/index.js';
import { skipReason, TagInserter } from '../../proxy/dev-reload/inject.js';
import { ReplacementDetector, type WorkerAnswer } from '../../proxy/dev-reload/replacement.js';
import { formatWorkerHeader, WORKER_HEADER } from '../../stack/worker-identity.js';
import { type Cleanup, servers, startProxy, startProxyProcess } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

const PAGE =
  '<!doctype html>\n<html><head><title>t</title></head>\n<body>\n<h1>Hello ✓</h1>\n</body>\n</html>\n';

/**
 * A stand-in worker: pages of every kind the injection has to tell apart, and a health answer that
 * names the process (`pid` can be changed to play a restart).
 */
async function fakeWorker(
  cleanup: Cleanup,
): Promise<{ port: number; setPid(pid: number): void; devProbes(): number }> {
  let pid = 1000;
  let devProbes = 0;
  const html = { 'content-type': 'text/html; charset=utf-8' };
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    if (path === '/healthz') {
      if (req.headers['user-agent'] === 'gatehouse-dev-reload') devProbes++;
      const port = (server.address() as AddressInfo).port;
      res.writeHead(200, {
        [WORKER_HEADER]: formatWorkerHeader({
          hostname: hostname(),
          pid,
          instance: 0,
          port,
          healthProbes: 0,
        }),
      });
      return res.end('ok\n');
    }
    if (path === '/page') {
      res.writeHead(200, { ...html, 'content-length': Buffer.byteLength(PAGE) });
      return res.end(PAGE);
    }
    if (path === '/streamed') {
      // `</body>` split across two writes, no Content-Length: chunked through the proxy too.
      res.writeHead(200, html);
      const at = PAGE.indexOf('</body>') + 3;
      res.write(PAGE.slice(0, at));
      return setTimeout(() => res.end(PAGE.slice(at)), 20);
    }
    if (path === '/gzip') {
      const body = gzipSync(PAGE);
      res.writeHead(200, { ...html, 'content-encoding': 'gzip', 'content-length': body.length });
      return res.end(body);
    }
    if (path === '/json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"html":"</body>"}');
    }
    if (path === '/csp-self') {
      res.writeHead(200, { ...html, 'content-security-policy': "default-src 'self'" });
      return res.end(PAGE);
    }
    if (path === '/csp-loopback') {
      res.writeHead(200, {
        ...html,
        'content-security-policy': "script-src 'self' http://127.0.0.1:*; connect-src 'self' 127.0.0.1:*",
      });
      return res.end(PAGE);
    }
    res.writeHead(404, html);
    res.end('<p>not here</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    setPid: (next) => {
      pid = next;
    },
    devProbes: () => devProbes,
  };
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

function fetchRaw(port: number, path: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The reload tag in a page: the script's URL, or null. */
function scriptTag(body: Buffer): URL | null {
  const match = /<script src="([^"]+)" async><\/script>/.exec(body.toString());
  return match ? new URL(match[1]!.replace(/&amp;/g, '&')) : null;
}

/** Opens the event stream and resolves with what it said once it says `reload` (or ends). */
function untilReload(statusPort: number, generation: string): { said: Promise<string>; close(): void } {
  let req: ReturnType<typeof get> | null = null;
  const said = new Promise<string>((resolve, reject) => {
    req = get(
      { host: '127.0.0.1', port: statusPort, path: `${EVENTS_PATH}?g=${generation}`, agent: false },
      (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
        assert.equal(res.headers['access-control-allow-origin'], '*');
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes('event: reload')) resolve(text);
        });
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
  });
  return { said, close: () => req?.destroy() };
}

describe('the reload tag goes into a streamed page once', () => {
  const tag = Buffer.from('<script src="x"></script>');
  const run = (chunks: string[]) => {
    const inserter = new TagInserter(tag);
    return Buffer.concat([...chunks.map((c) => inserter.push(Buffer.from(c))), inserter.end()]).toString();
  };

  test('before </body>, found across any split and in any case; only the first', () => {
    const page = '<html><body><p>é</p></BODY></html>';
    const expected = '<html><body><p>é</p><script src="x"></script></BODY></html>';
    for (let at = 0; at <= page.length; at++)
      assert.equal(run([page.slice(0, at), page.slice(at)]), expected);
    assert.equal(run([...page]), expected, 'one character a write');
    assert.equal(run(['<body></body></body>']), '<body><script src="x"></script></body></body>');
  });

  test('at the end when the page has no </body>; nothing lost of a short page', () => {
    assert.equal(run(['<p>hi</p>']), '<p>hi</p><script src="x"></script>');
    assert.equal(run(['<', '/bod']), '</bod<script src="x"></script>');
    assert.equal(run([]), '<script src="x"></script>');
  });

  test('which responses are left alone', () => {
    const head = (headers: Record<string, string>) => (name: string) =>
      headers[name] ? [headers[name]] : [];
    const html = { 'content-type': 'text/html; charset=utf-8' };
    assert.equal(skipReason(200, head(html)), null);
    assert.equal(skipReason(404, head({ 'content-type': 'TEXT/HTML' })), null, 'an error page reloads too');
    assert.equal(skipReason(304, head(html)), 'no page body');
    assert.equal(skipReason(204, head(html)), 'no page body');
    assert.equal(skipReason(206, head({ ...html, 'content-range': 'bytes 0-9/99' })), 'no page body');
    assert.equal(skipReason(200, head({ 'content-type': 'application/xhtml+xml' })), 'not text/html');
    assert.equal(skipReason(200, head({})), 'not text/html');
    assert.equal(skipReason(200, head({ ...html, 'content-encoding': 'br' })), 'compressed');
    assert.equal(skipReason(200, head({ ...html, 'content-encoding': 'identity' })), null);
    assert.equal(
      skipReason(200, head({ ...html, 'cache-control': 'private, no-transform' })),
      'no-transform',
    );
  });
});

describe("a page's Content-Security-Policy decides whether it gets the script", () => {
  const script = new URL('http://127.0.0.1:8081/dev-reload.js?g=a.0');
  const events = new URL('http://127.0.0.1:8081/dev-reload/events');
  const refusal = (...policies: string[]) => cspRefusal(policies, script, events);

  test('allowed: no policy, no script or connect rule, or one naming the status origin', () => {
    assert.equal(refusal(), null);
    assert.equal(refusal("img-src 'self'; frame-ancestors 'none'"), null);
    assert.equal(refusal('default-src *'), null);
    assert.equal(refusal('default-src http:'), null);
    assert.equal(refusal("default-src 'self' 127.0.0.1:8081"), null);
    assert.equal(refusal("default-src 'self' http://127.0.0.1:*"), null);
    assert.equal(
      refusal(
        'script-src http://127.0.0.1:8081/dev-reload.js; connect-src http://127.0.0.1:8081/dev-reload/',
      ),
      null,
    );
    assert.equal(
      refusal("script-src-elem 127.0.0.1:8081; script-src 'none'; connect-src *"),
      null,
      'script-src-elem wins',
    );
  });

  test("refused: 'self' (another port is another origin), 'none', other hosts, ports, schemes, paths, strict-dynamic", () => {
    assert.equal(refusal("default-src 'self'"), 'script-src');
    assert.equal(refusal("script-src 'self' 'unsafe-inline'"), 'script-src');
    assert.equal(refusal("script-src 'none'"), 'script-src');
    assert.equal(refusal('script-src 127.0.0.1'), 'script-src', 'no port: the default port only');
    assert.equal(refusal('script-src 127.0.0.1:9000'), 'script-src');
    assert.equal(refusal('script-src https://127.0.0.1:8081'), 'script-src');
    assert.equal(refusal('script-src https:'), 'script-src');
    assert.equal(refusal('script-src *.example.com:*'), 'script-src');
    assert.equal(refusal('script-src 127.0.0.1:8081/other.js'), 'script-src');
    assert.equal(refusal("script-src 'nonce-abc' 'strict-dynamic' http:"), 'script-src');
    assert.equal(
      refusal("script-src *; connect-src 'self'"),
      'connect-src',
      'the event stream needs connect-src',
    );
    assert.equal(refusal('default-src *', "default-src 'self'"), 'script-src', 'every policy must allow it');
    assert.equal(refusal("default-src *, script-src 'self'"), 'script-src', 'policies joined by a comma');
  });
});

describe('when are the workers replaced (the moment pages reload)', () => {
  /** One round written as "a=old0 b=-": each address and who answered there ("-": nobody). */
  const round = (text: string): WorkerAnswer[] =>
    text
      .split(' ')
      .filter(Boolean)
      .map((pair) => {
        const [address = '', identity = '-'] = pair.split('=');
        return { address, identity: identity === '-' ? null : identity };
      });
  /** Feeds the rounds in order; each says whether pages reload after it. */
  const play = (steps: Array<[string, boolean, string]>) => {
    const detector = new ReplacementDetector();
    for (const [answers, reload, why] of steps)
      assert.equal(detector.observe(round(answers)), reload, `${answers}: ${why}`);
  };

  test("pm2's watcher restarting two workers one at a time: one reload, once only new processes are in the pool", () =>
    play([
      ['a=old0 b=-', false, 'start-up: the pool fills in'],
      ['a=old0', false, 'the pm2 pool before b is online'],
      ['a=old0 b=old1', false, 'b joins the first generation'],
      ['b=old1', false, 'a drains (out of the pool)'],
      ['a=new0 b=old1', false, 'a mix of old and new code'],
      ['a=new0', true, 'b drains: only new processes serve now'],
      ['a=new0', false, 'once'],
      ['a=new0 b=new1', false, 'b rejoins as part of the new generation'],
      ['a=new0 b=new1', false, 'steady'],
      ['a=newer0 b=new1', false, 'the next change begins'],
      ['a=newer0 b=-', false, 'b restarting does not answer'],
      ['a=newer0 b=newer1', true, 'the next change is complete'],
    ]));

  test('one crash is not a reload, nor is a scale up or down; a pool of new addresses only is', () => {
    play([
      ['a=p1 b=p2', false, 'start'],
      ['a=p3 b=p2', false, 'a crashed and came back'],
      ['a=p3 b=p2 c=p4', false, 'a scale up while mixed'],
    ]);
    play([
      ['a=p1 b=p2', false, 'start'],
      ['a=p1 b=p2 c=p3', false, 'scale up'],
      ['a=p1', false, 'scale down'],
      ['c=p3 a=p1', false, 'back up'],
      ['d=p5 e=p6', true, 'a rollout to new addresses (containers): only new processes'],
    ]);
    assert.equal(new ReplacementDetector().observe([]), false);
  });
});

describe('development reload through the proxy', () => {
  test('production: pages pass untouched and the status listener serves no script', async (t) => {
    const worker = await fakeWorker(t);
    const proxy = await startProxy(t, { upstream: { servers: servers(worker.port) } });
    const page = await fetchRaw(proxy.port, '/page');
    assert.equal(page.body.toString(), PAGE);
    assert.equal(page.headers['content-length'], String(Buffer.byteLength(PAGE)));
    assert.equal((await fetchRaw(proxy.statusPort, SCRIPT_PATH)).status, 404);
    assert.equal((await fetchRaw(proxy.statusPort, EVENTS_PATH)).status, 404);
  });

  test('development: HTML pages get the script from the status listener; everything else passes untouched', async (t) => {
    const worker = await fakeWorker(t);
    const proxy = await startProxy(t, { upstream: { servers: servers(worker.port) } }, { devReload: true });

    const page = await fetchRaw(proxy.port, '/page');
    const src = scriptTag(page.body);
    assert.ok(src, page.body.toString());
    assert.equal(src.origin, `http://127.0.0.1:${proxy.statusPort}`);
    assert.equal(src.pathname, SCRIPT_PATH);
    assert.match(src.searchParams.get('g') ?? '', /^[a-z0-9]+\.0$/);
    const text = page.body.toString();
    assert.ok(text.indexOf('<script') < text.indexOf('</body>'), 'before </body>');
    assert.equal(text.replace(/<script[^>]*><\/script>/, ''), PAGE, 'nothing else changed');
    assert.equal(Number(page.headers['content-length']), page.body.length, 'Content-Length grew with it');

    const streamed = await fetchRaw(proxy.port, '/streamed');
    assert.equal(streamed.headers['transfer-encoding'], 'chunked');
    assert.equal(streamed.body.toString().replace(/<script[^>]*><\/script>/, ''), PAGE);
    assert.ok(scriptTag(streamed.body));
    assert.ok(scriptTag((await fetchRaw(proxy.port, '/missing')).body), 'a 404 page too');

    const gzip = await fetchRaw(proxy.port, '/gzip');
    assert.deepEqual(gzip.body, gzipSync(PAGE), 'a compressed page is left alone');
    assert.equal((await fetchRaw(proxy.port, '/json')).body.toString(), '{"html":"</body>"}');
    assert.equal(
      (await fetchRaw(proxy.port, '/page', 'HEAD')).headers['content-length'],
      String(Buffer.byteLength(PAGE)),
    );
    assert.equal(
      (await fetchRaw(proxy.port, '/page', 'POST')).body.toString(),
      PAGE,
      'a POST answer is not reloaded',
    );

    const script = await fetchRaw(proxy.statusPort, SCRIPT_PATH);
    assert.equal(script.status, 200);
    assert.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(script.body.toString(), CLIENT_SCRIPT);
  });

  test('development: a page whose CSP does not allow the status origin is served as it is, and the log says so once', async (t) => {
    const worker = await fakeWorker(t);
    const proxy = await startProxy(t, { upstream: { servers: servers(worker.port) } }, { devReload: true });
    for (let i = 0; i < 3; i++) assert.equal((await fetchRaw(proxy.port, '/csp-self')).body.toString(), PAGE);
    const said = proxy.logs.filter((line) => /Content-Security-Policy/.test(String(line.msg)));
    assert.equal(said.length, 1, JSON.stringify(said));
    assert.equal(said[0]!.path, '/csp-self');
    assert.equal(said[0]!.directive, 'script-src');
    assert.equal(said[0]!.level, 40);
    // A policy that names the status origin gets the script.
    assert.ok(scriptTag((await fetchRaw(proxy.port, '/csp-loopback')).body));
  });

  test('development: the event stream says reload once the worker is a new process; a late page hears it at once', async (t) => {
    const worker = await fakeWorker(t);
    const proxy = await startProxy(t, { upstream: { servers: servers(worker.port) } }, { devReload: true });
    const generation = scriptTag((await fetchRaw(proxy.port, '/page')).body)!.searchParams.get('g')!;
    const stream = untilReload(proxy.statusPort, generation);
    t.after(stream.close);
    // The proxy knows who answered before the restart: a second question means the first round is over.
    await waitFor('two rounds of asking the worker who it is', async () => worker.devProbes() >= 2, 10_000);
    worker.setPid(2000);
    const said = await Promise.race([
      stream.said,
      new Promise<string>((_, reject) =>
        setTimeout(() => reject(new Error('no reload within 15 s')), 15_000),
      ),
    ]);
    assert.match(said, /^retry: 1000\n\nevent: reload\ndata: [a-z0-9]+\.1\n\n$/);
    assert.ok(
      proxy.logs.some((line) => /every worker is a new process; 1 open page told/.test(String(line.msg))),
    );

    // A page served before that reload, opening its stream only now, is told at once.
    const late = untilReload(proxy.statusPort, generation);
    t.after(late.close);
    assert.match(await late.said, /event: reload/);
    // The page served now is of the new generation.
    assert.match(scriptTag((await fetchRaw(proxy.port, '/page')).body)!.searchParams.get('g')!, /\.1$/);
  });

  test('the proxy process turns it on with NODE_ENV=development only', async (t) => {
    const worker = await fakeWorker(t);
    const config = { upstream: { servers: servers(worker.port) } };
    const [production, development] = await Promise.all([
      startProxyProcess(t, { config, env: { NODE_ENV: 'production' } }),
      startProxyProcess(t, { config, env: { NODE_ENV: 'development' } }),
    ]);
    assert.equal((await fetchRaw(production.port, '/page')).body.toString(), PAGE);
    assert.equal((await fetchRaw(production.statusPort, SCRIPT_PATH)).status, 404);
    assert.ok(scriptTag((await fetchRaw(development.port, '/page')).body));
    assert.equal((await fetchRaw(development.statusPort, SCRIPT_PATH)).status, 200);
  });
});
