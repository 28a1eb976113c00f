import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { serveFetch, toRequest, writeResponse } from '../../app/fetch-adapter.js';
import {
  type FetchHandler,
  type NodeListener,
  type RequestContext,
  toGatewayApp,
} from '../../app/gateway.js';
import { loadApp } from '../../app/run-worker.js';
import { readMessage } from '../helpers/raw-backend.js';

const context: RequestContext = {
  requestId: 'r1',
  remoteAddress: '127.0.0.1',
  worker: { hostname: 'test-host', pid: 1, instance: 0, port: 8001 },
};

describe('toGatewayApp', () => {
  test('a one-parameter function is a Fetch handler', () => {
    const handler = (_request: Request) => new Response('ok');
    const app = toGatewayApp(handler);
    assert.equal(app.fetch, handler);
    assert.equal(app.listener, undefined);
  });

  test('a two-parameter function is a Node listener', () => {
    const listener: NodeListener = (_req, res) => res.end();
    const app = toGatewayApp(listener);
    assert.equal(app.listener, listener);
    assert.equal(app.fetch, undefined);
  });

  test("a three-parameter function (an Express app's (req, res, next)) is a Node listener", () => {
    const express = (_req: unknown, _res: unknown, _next: unknown) => {};
    assert.equal(toGatewayApp(express).listener, express);
  });

  test('an object with fetch() is taken as it is, upgrade and close included', () => {
    const app = { fetch: () => new Response('ok'), upgrade: () => {}, close: () => {} };
    assert.equal(toGatewayApp(app), app);
  });

  test('an object with listener() is taken as it is', () => {
    const app = { listener: (() => {}) as NodeListener };
    assert.equal(toGatewayApp(app), app);
  });

  test('an object with both fetch() and listener() is refused', () => {
    assert.throws(() => toGatewayApp({ fetch: () => new Response(), listener: () => {} }), TypeError);
  });

  test('an object with neither is refused', () => {
    assert.throws(() => toGatewayApp({ upgrade: () => {} }), TypeError);
  });

  for (const value of [null, undefined, 42, 'app', true]) {
    test(`${JSON.stringify(value) ?? 'undefined'} is refused with a TypeError naming its type`, () => {
      assert.throws(
        () => toGatewayApp(value),
        (err: unknown) => {
          assert.ok(err instanceof TypeError);
          assert.match(err.message, new RegExp(value === null ? 'null' : typeof value));
          return true;
        },
      );
    });
  }
});

/** A socket stand-in: whatever the response writes is collected, nothing is ever read. */
class Wire extends Duplex {
  readonly chunks: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    this.emit('written');
    done();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
  /** Resolves once the body (after the head) contains `text`; rejects after `timeout` ms. */
  bodyContains(text: string, timeout: number): Promise<void> {
    const seen = () => {
      const all = this.text();
      const start = all.indexOf('\r\n\r\n');
      return start >= 0 && all.includes(text, start);
    };
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!seen()) return;
        clearTimeout(timer);
        this.off('written', check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('written', check);
        reject(
          new Error(
            `${JSON.stringify(text)} not on the wire within ${timeout} ms: ${JSON.stringify(this.text())}`,
          ),
        );
      }, timeout);
      this.on('written', check);
      check();
    });
  }
}

function incoming(options: {
  method?: string;
  url?: string;
  rawHeaders?: string[];
  body?: string[];
}): IncomingMessage {
  const req = new IncomingMessage(new Wire() as never);
  req.method = options.method ?? 'GET';
  req.url = options.url ?? '/';
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.rawHeaders = options.rawHeaders ?? [];
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    req.headers[req.rawHeaders[i]!.toLowerCase()] = req.rawHeaders[i + 1]!;
  for (const chunk of options.body ?? []) req.push(chunk);
  req.push(null);
  // As the parser does once the message is in: an incomplete request would count as aborted.
  req.complete = true;
  return req;
}

function outgoing(method = 'GET'): { res: ServerResponse; wire: Wire } {
  const wire = new Wire();
  const res = new ServerResponse(incoming({ method }));
  res.assignSocket(wire as never);
  return { res, wire };
}

describe('loadApp', () => {
  test('a TypeScript app runs as it is where Node strips types, else the error says what to do', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-ts-app-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'app.mts');
    writeFileSync(
      file,
      "const greeting: string = 'hi';\nexport default (_request: Request) => new Response(greeting);\n",
    );
    const features = process.features as { typescript?: string | false };
    if (features.typescript) {
      const app = await loadApp(file);
      assert.equal(await (await app.fetch!(new Request('http://x/'), context)).text(), 'hi');
    } else {
      await assert.rejects(loadApp(file), (err: Error) => {
        assert.match(
          err.message,
          /app\.mts is TypeScript, which Node \S+ does not run by itself \(Node 22\.18\+ and 24 strip types\); compile it with tsc and set workers\.app to the \.js/,
        );
        return true;
      });
    }
  });
});

describe('toRequest', () => {
  test('keeps the method, path, query and every header, repeated ones included', async () => {
    const req = incoming({
      url: '/a/b?c=d',
      rawHeaders: ['Host', 'shop.test:8080', 'X-Tag', 'one', 'X-Tag', 'two', 'Accept', '*/*'],
    });
    const request = toRequest(req, '127.0.0.1:8001');
    assert.equal(request.method, 'GET');
    assert.equal(request.url, 'http://shop.test:8080/a/b?c=d');
    assert.equal(request.headers.get('x-tag'), 'one, two');
    assert.equal(request.headers.get('accept'), '*/*');
    assert.equal(request.body, null);
  });

  test('a Host that is not a plain host[:port] is replaced by the fallback in the URL', () => {
    const req = incoming({ rawHeaders: ['Host', 'evil.test/path?x'] });
    assert.equal(toRequest(req, '127.0.0.1:8001').url, 'http://127.0.0.1:8001/');
  });

  test('a request target that is not a path (absolute-form, *) becomes /', () => {
    assert.equal(new URL(toRequest(incoming({ url: '*' }), 'h:1').url).pathname, '/');
    assert.equal(new URL(toRequest(incoming({ url: 'http://other/x' }), 'h:1').url).pathname, '/');
  });

  test('a POST body is passed on as a stream', async () => {
    const req = incoming({ method: 'POST', rawHeaders: ['Host', 'h'], body: ['part one, ', 'part two'] });
    const request = toRequest(req, 'h:1');
    assert.ok(request.body instanceof ReadableStream);
    assert.equal(await request.text(), 'part one, part two');
  });

  test('HEAD and GET carry no body', () => {
    assert.equal(toRequest(incoming({ method: 'HEAD' }), 'h:1').body, null);
    assert.equal(toRequest(incoming({ method: 'GET', body: ['x'] }), 'h:1').body, null);
  });
});

describe('writeResponse', () => {
  test('writes the status, reason, headers and body', async () => {
    const { res, wire } = outgoing();
    const response = new Response('hello', { status: 201, statusText: 'Made', headers: { 'x-one': '1' } });
    await writeResponse(response, res, false);
    const text = wire.text();
    assert.match(text, /^HTTP\/1\.1 201 Made\r\n/);
    assert.match(text, /\r\nx-one: 1\r\n/);
    assert.match(text, /\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/);
  });

  test('each Set-Cookie stays its own header line', async () => {
    const { res, wire } = outgoing();
    const headers = new Headers([
      ['set-cookie', 'a=1; Path=/'],
      ['set-cookie', 'b=2'],
    ]);
    await writeResponse(new Response(null, { headers }), res, false);
    assert.match(wire.text(), /\r\nset-cookie: a=1; Path=\/\r\nset-cookie: b=2\r\n/);
  });

  test('a HEAD response sends the headers and no body', async () => {
    const { res, wire } = outgoing('HEAD');
    await writeResponse(new Response('not sent', { headers: { 'content-length': '8' } }), res, true);
    const text = wire.text();
    assert.match(text, /content-length: 8/);
    assert.doesNotMatch(text, /not sent/);
  });

  test('a streamed body reaches the client as it comes: the first part before the app makes the next', async () => {
    const { res, wire } = outgoing();
    const encoder = new TextEncoder();
    const parts = ['first part;', 'second part'];
    let next = 0;
    // The app makes the second part only once the first is on the wire: a writer that waited for more
    // (or for the end) before writing would never get it, and the wait below fails the test.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (next === parts.length) return controller.close();
        if (next > 0) await wire.bodyContains(parts[next - 1]!, 5000);
        controller.enqueue(encoder.encode(parts[next++]));
      },
    });
    await writeResponse(new Response(body), res, false);
    // Framing is Node's to choose (Node 24 puts both parts in one chunk when it can): only the body counts.
    const parsed = readMessage(Buffer.concat(wire.chunks), { response: true });
    assert.ok(parsed, `a complete response: ${JSON.stringify(wire.text())}`);
    assert.equal(parsed.message.body.toString(), parts.join(''));
  });
});

describe('serveFetch', () => {
  test('rejects when the handler returns something other than a Response', async () => {
    const { res } = outgoing();
    const handler = (() => 'not a response') as unknown as FetchHandler;
    await assert.rejects(serveFetch(handler, incoming({}), res, context, 'h:1'), TypeError);
    assert.equal(res.headersSent, false);
  });

  test('rejects when the handler throws, before anything is written', async () => {
    const { res } = outgoing();
    const handler: FetchHandler = () => {
      throw new Error('boom');
    };
    await assert.rejects(serveFetch(handler, incoming({}), res, context, 'h:1'), /boom/);
    assert.equal(res.headersSent, false);
  });

  test('hands the handler the request and the context', async () => {
    const { res, wire } = outgoing();
    let seen: RequestContext | null = null;
    const handler: FetchHandler = (request, ctx) => {
      seen = ctx;
      return new Response(new URL(request.url).pathname);
    };
    await serveFetch(handler, incoming({ url: '/where' }), res, context, 'h:1');
    assert.equal(seen, context);
    assert.match(wire.text(), /\r\n\/where\r\n/);
  });
});
