import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import type { GatewayApp, RequestContext } from '../../app/gateway.js';
import { MAX_BYTES } from '../../app/site/bytes.js';
import { createSite, HttpError } from '../../app/site/index.js';

const context: RequestContext = {
  requestId: 'req-1',
  remoteAddress: '127.0.0.1',
  worker: { hostname: 'test-host', pid: 4242, instance: 3, port: 8004 },
};
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

function site(options: Partial<Parameters<typeof createSite>[0]> = {}): GatewayApp {
  return createSite({ diagnostics: true, bodyLimit: 1024, maxDelay: 50, maxBlock: 50, ...options });
}

function call(
  app: GatewayApp,
  path: string,
  init: RequestInit & { duplex?: 'half' } = {},
): Promise<Response> {
  return Promise.resolve(app.fetch!(new Request(`http://worker.test${path}`, init), context));
}

/** A request body that arrives in pieces with no Content-Length, as a chunked upload does. */
function chunked(chunks: string[]): {
  body: ReadableStream<Uint8Array>;
  duplex: 'half';
  pulled: () => number;
} {
  const encoder = new TextEncoder();
  let pulls = 0;
  const queue = [...chunks];
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        pulls++;
        const next = queue.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(encoder.encode(next));
      },
    },
    { highWaterMark: 0 },
  );
  return { body, duplex: 'half', pulled: () => pulls };
}

describe('pages (the Flask example)', () => {
  test('GET / renders the home page inside the layout', async () => {
    const res = await call(site(), '/');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = await res.text();
    assert.match(html, /<title>Home · gatehouse<\/title>/);
    assert.match(html, /<h1>Home<\/h1>/);
  });

  test('GET /signin renders the sign-in form', async () => {
    const html = await (await call(site(), '/signin')).text();
    assert.match(html, /<form action="\/signin" method="post">/);
    assert.match(html, /name="username"/);
    assert.match(html, /name="password" type="password"/);
    assert.doesNotMatch(html, /Bad username or password/);
  });

  test('POST /signin with admin/password greets the admin', async () => {
    const res = await call(site(), '/signin', {
      method: 'POST',
      headers: FORM,
      body: 'username=admin&password=password',
    });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Hello, admin!/);
  });

  test('POST /signin with a wrong password shows the form again with status 200 and a message', async () => {
    const res = await call(site(), '/signin', {
      method: 'POST',
      headers: FORM,
      body: 'username=admin&password=nope',
    });
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /Bad username or password\./);
    assert.match(html, /<form action="\/signin"/);
    assert.match(html, /value="admin"/);
    assert.doesNotMatch(html, /Hello, admin!/);
  });

  test('POST /signin escapes the username it echoes', async () => {
    const body = new URLSearchParams({ username: '<script>alert("x")</script>', password: 'p' }).toString();
    const html = await (await call(site(), '/signin', { method: 'POST', headers: FORM, body })).text();
    assert.doesNotMatch(html, /<script>/);
    assert.match(html, /value="&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;"/);
  });

  test('POST /signin decodes + and percent-escapes as a browser encodes them', async () => {
    const body = 'username=ad%6Din&password=pass%77ord&extra=a+b';
    assert.match(
      await (await call(site(), '/signin', { method: 'POST', headers: FORM, body })).text(),
      /Hello, admin!/,
    );
  });

  test('POST /signin accepts a chunked form body within the limit', async () => {
    const { body, duplex } = chunked(['username=ad', 'min&pass', 'word=password']);
    const res = await call(site(), '/signin', { method: 'POST', headers: FORM, body, duplex });
    assert.match(await res.text(), /Hello, admin!/);
  });
});

describe('bad input', () => {
  const malformed: [string, Record<string, string>, string][] = [
    ['a malformed percent-escape', FORM, 'username=%zz&password=x'],
    ['invalid UTF-8', FORM, '\u00ff'],
    ['a missing password field', FORM, 'username=admin'],
    ['a JSON body', { 'content-type': 'application/json' }, '{"username":"admin","password":"password"}'],
    ['no content type', {}, 'username=admin&password=password'],
  ];
  for (const [what, headers, text] of malformed) {
    test(`POST /signin with ${what} is a 400`, async () => {
      const body = what === 'invalid UTF-8' ? new Uint8Array([0x75, 0x3d, 0xff, 0xfe]) : text;
      const init: RequestInit = { method: 'POST', headers, body };
      if (what === 'no content type') init.body = new TextEncoder().encode(text);
      const res = await call(site(), '/signin', init);
      assert.equal(res.status, 400);
      assert.match(await res.text(), /<h1>400 Bad Request<\/h1>/);
    });
  }

  test('a declared Content-Length over the limit is a 413 before any of the body is read', async () => {
    const { body, duplex, pulled } = chunked(['x'.repeat(100)]);
    const headers = { ...FORM, 'content-length': '2000' };
    const res = await call(site(), '/signin', { method: 'POST', headers, body, duplex });
    assert.equal(res.status, 413);
    assert.equal(res.headers.get('connection'), 'close');
    assert.equal(pulled(), 0);
  });

  test('a chunked body that grows over the limit is a 413', async () => {
    const { body, duplex } = chunked(['username=', 'a'.repeat(600), 'b'.repeat(600), '&password=x']);
    const res = await call(site(), '/signin', { method: 'POST', headers: FORM, body, duplex });
    assert.equal(res.status, 413);
    assert.match(await res.text(), /larger than 1024 bytes/);
  });

  test('a body of exactly the limit is accepted', async () => {
    const body = `username=admin&password=password&pad=${'x'.repeat(1024 - 37)}`;
    assert.equal(body.length, 1024);
    const res = await call(site(), '/signin', { method: 'POST', headers: FORM, body });
    assert.equal(res.status, 200);
  });

  test('an unknown path is a 404 page rendered through the templates', async () => {
    const res = await call(site(), '/no/such/page');
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = await res.text();
    assert.match(html, /<title>Not Found · gatehouse<\/title>/);
    assert.match(html, /<h1>404 Not Found<\/h1>/);
  });

  const wrongMethods: [string, string, string][] = [
    ['DELETE', '/signin', 'GET, HEAD, POST'],
    ['POST', '/', 'GET, HEAD'],
    ['PUT', '/headers', 'GET, HEAD'],
    ['GET', '/echo', 'POST'],
    ['POST', '/delay/10', 'GET, HEAD'],
    ['POST', '/healthz', 'GET, HEAD'],
  ];
  for (const [method, path, allow] of wrongMethods) {
    test(`${method} ${path} is a 405 with Allow: ${allow}`, async () => {
      const res = await call(site(), path, { method });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), allow);
      assert.match(await res.text(), /405 Method Not Allowed/);
    });
  }

  test('HEAD is answered wherever GET is, without a body', async () => {
    for (const path of ['/', '/signin', '/headers', '/healthz']) {
      const res = await call(site(), path, { method: 'HEAD' });
      assert.equal(res.status, 200, path);
      assert.equal(res.body, null, path);
    }
  });

  test('HEAD of an unknown path is a 404 without a body', async () => {
    const res = await call(site(), '/missing', { method: 'HEAD' });
    assert.equal(res.status, 404);
    assert.equal(res.body, null);
  });
});

describe('diagnostics', () => {
  test('GET /headers returns the request headers (lower-case names) and which worker answered', async () => {
    const res = await call(site(), '/headers', {
      headers: { 'X-Custom-Thing': 'yes', Accept: 'application/json' },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const json = (await res.json()) as { headers: Record<string, string>; worker: unknown };
    assert.equal(json.headers['x-custom-thing'], 'yes');
    assert.equal(json.headers.accept, 'application/json');
    assert.ok(Object.keys(json.headers).every((name) => name === name.toLowerCase()));
    assert.deepEqual(json.worker, { hostname: 'test-host', pid: 4242, instance: 3, port: 8004 });
  });

  test('GET /healthz answers ok', async () => {
    const res = await call(site(), '/healthz');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await res.text(), 'ok');
  });

  test('GET /delay/:ms waits and reports the delay', async () => {
    const res = await call(site(), '/delay/5');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { delay: 5 });
  });

  test('GET /delay/:ms is capped at maxDelay', async () => {
    const res = await call(site({ maxDelay: 20 }), '/delay/100000');
    assert.deepEqual(await res.json(), { delay: 20 });
  });

  for (const route of ['delay', 'block']) {
    for (const bad of ['abc', '-5', '1.5', '1e3']) {
      test(`GET /${route}/${bad} is a 400`, async () => {
        assert.equal((await call(site(), `/${route}/${bad}`)).status, 400);
      });
    }
  }

  test('GET /block/:ms keeps the event loop busy that long: the call returns only once it is over', async () => {
    const started = performance.now();
    // The handler runs before fetch's first await: a busy wait, not a timer, holds this very turn.
    const pending = call(site(), '/block/20');
    assert.ok(performance.now() - started >= 20, 'the loop was held for the whole block');
    assert.deepEqual(await (await pending).json(), { blocked: 20 });
  });

  test('GET /block/:ms is capped at maxBlock', async () => {
    const res = await call(site({ maxBlock: 10 }), '/block/100000');
    assert.deepEqual(await res.json(), { blocked: 10 });
  });

  for (const code of [200, 201, 302, 404, 418, 503, 599]) {
    test(`GET /status/${code} answers with status ${code}`, async () => {
      const res = await call(site(), `/status/${code}`);
      assert.equal(res.status, code);
      assert.equal(await res.text(), `${code}\n`);
    });
  }

  test('GET /status/204 answers 204 without a body', async () => {
    const res = await call(site(), '/status/204');
    assert.equal(res.status, 204);
    assert.equal(res.body, null);
  });

  for (const bad of ['199', '600', '100', 'abc', '2000', '20']) {
    test(`GET /status/${bad} is a 400`, async () => {
      assert.equal((await call(site(), `/status/${bad}`)).status, 400);
    });
  }

  test('GET /bytes/:n answers exactly n bytes with a Content-Length', async () => {
    for (const n of [0, 1, 65_536, 200_001]) {
      const res = await call(site(), `/bytes/${n}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-length'), String(n));
      const body = new Uint8Array(await res.arrayBuffer());
      assert.equal(body.length, n);
      assert.ok(body.every((b) => b === 0x61));
    }
  });

  test('GET /bytes/:n streams even the largest size in 64 KiB chunks, read one at a time', async () => {
    const res = await call(site(), `/bytes/${MAX_BYTES}`);
    const reader = res.body!.getReader();
    let read = 0;
    for (let i = 0; i < 3; i++) read += (await reader.read()).value!.length;
    await reader.cancel();
    // 256 MiB were asked for, and three reads got three chunks: nothing made the whole body first.
    assert.equal(read, 3 * 65_536);
  });

  for (const bad of ['abc', '-1', '1.5', '1e3', String(MAX_BYTES + 1), '99999999999']) {
    test(`GET /bytes/${bad} is a 400`, async () => {
      assert.equal((await call(site(), `/bytes/${bad}`)).status, 400);
    });
  }

  test('POST /echo returns the body with its content type', async () => {
    const res = await call(site(), '/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/x-thing' },
      body: 'héllo',
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-thing');
    assert.equal(await res.text(), 'héllo');
  });

  test('POST /echo streams: the first chunk comes back before the request body has ended', async () => {
    const encoder = new TextEncoder();
    let upload!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        upload = controller;
      },
    });
    const res = await call(site(), '/echo', { method: 'POST', body, duplex: 'half' });
    const reader = res.body!.getReader();
    upload.enqueue(encoder.encode('one'));
    assert.equal(new TextDecoder().decode((await reader.read()).value), 'one');
    upload.enqueue(encoder.encode('two'));
    assert.equal(new TextDecoder().decode((await reader.read()).value), 'two');
    upload.close();
    assert.equal((await reader.read()).done, true);
  });

  test('POST /echo with a declared Content-Length over the limit is a 413', async () => {
    const { body, duplex } = chunked(['x']);
    const res = await call(site(), '/echo', {
      method: 'POST',
      headers: { 'content-length': '5000' },
      body,
      duplex,
    });
    assert.equal(res.status, 413);
  });

  test('POST /echo errors the stream once a chunked body passes the limit', async () => {
    const { body, duplex } = chunked(['a'.repeat(600), 'b'.repeat(600)]);
    const res = await call(site(), '/echo', { method: 'POST', body, duplex });
    assert.equal(res.status, 200);
    await assert.rejects(res.text(), (err: unknown) => err instanceof HttpError && err.status === 413);
  });

  test('POST /echo without a body answers an empty 200', async () => {
    const res = await call(site(), '/echo', { method: 'POST' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
  });

  test('GET /ws without an upgrade is a 426 naming websocket', async () => {
    const res = await call(site(), '/ws');
    assert.equal(res.status, 426);
    assert.equal(res.headers.get('upgrade'), 'websocket');
  });

  test('with diagnostics off, the diagnostic routes are 404 and /healthz still answers', async () => {
    const app = site({ diagnostics: false });
    for (const [method, path] of [
      ['GET', '/headers'],
      ['GET', '/delay/1'],
      ['GET', '/block/1'],
      ['GET', '/status/200'],
      ['GET', '/bytes/1'],
      ['POST', '/echo'],
      ['GET', '/ws'],
    ] as const) {
      assert.equal((await call(app, path, { method })).status, 404, `${method} ${path}`);
    }
    const health = await call(app, '/healthz');
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'ok');
  });
});

describe('websocket upgrade', () => {
  /** A socket stand-in that records what the site writes and whether it was destroyed. */
  function fakeSocket(): Duplex & { written: () => string } {
    const chunks: Buffer[] = [];
    const socket = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    });
    return Object.assign(socket, { written: () => Buffer.concat(chunks).toString() });
  }

  function upgradeRequest(url: string): IncomingMessage {
    const req = new IncomingMessage(fakeSocket() as never);
    req.method = 'GET';
    req.url = url;
    req.headers = { upgrade: 'websocket', connection: 'Upgrade' };
    return req;
  }

  for (const [what, options, url] of [
    ['an upgrade on another path', {}, '/chat'],
    ['/ws with diagnostics off', { diagnostics: false }, '/ws'],
  ] as const) {
    test(`${what} gets a 404 on the socket, which is then destroyed`, async () => {
      const socket = fakeSocket();
      site(options).upgrade!(upgradeRequest(url), socket, Buffer.alloc(0));
      await new Promise((resolve) => socket.once('close', resolve));
      assert.match(socket.written(), /^HTTP\/1\.1 404 Not Found\r\n/);
      assert.equal(socket.destroyed, true);
    });
  }
});
