import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import hello from '../../app/examples/wsgi-hello.js';
import { type RequestContext, toGatewayApp } from '../../app/gateway.js';
import {
  fromWsgi,
  type WsgiApp,
  type WsgiBody,
  type WsgiEnviron,
  WsgiError,
  type WsgiErrors,
} from '../../app/wsgi.js';

const context: RequestContext = {
  requestId: 'req-7',
  remoteAddress: '10.1.2.3',
  worker: { hostname: 'test-host', pid: 99, instance: 1, port: 8002 },
};

function get(path = '/', init: RequestInit = {}): Request {
  return new Request(`http://app.test:8002${path}`, init);
}

/** Runs an app through the adapter; always a promise, as a worker awaits it. */
async function run(app: WsgiApp, request: Request = get()): Promise<Response> {
  return fromWsgi(app)(request, context);
}

/** An app that starts the response with `status` and returns `body` as it is. */
function answering(status: string, body: WsgiBody): WsgiApp {
  return (_env, startResponse) => {
    startResponse(status, []);
    return body;
  };
}

const isWsgiError = (err: unknown) => err instanceof WsgiError && err.code === 'GH_ERR_WSGI';

/** A body iterable that records close(), as a Python generator or file wrapper would. */
function closable(chunks: string[], fail?: Error): Iterable<string> & { closed: number } {
  const body = {
    closed: 0,
    *[Symbol.iterator]() {
      yield* chunks;
      if (fail) throw fail;
    },
    close() {
      body.closed++;
    },
  };
  return body;
}

describe('the hello world example', () => {
  test('answers 200 OK, Content-Type text/html and <h1>Hello World!</h1>', async () => {
    const res = await hello(get('/'), context);
    assert.equal(res.status, 200);
    assert.equal(res.statusText, 'OK');
    assert.equal(res.headers.get('content-type'), 'text/html');
    assert.equal(await res.text(), '<h1>Hello World!</h1>');
  });

  test('is taken by the worker as a Fetch handler, not a Node listener', () => {
    const app = toGatewayApp(hello);
    assert.equal(app.fetch, hello);
    assert.equal(app.listener, undefined);
  });
});

describe('start_response', () => {
  test('a second call without excInfo throws, and the request fails', async () => {
    let thrown: unknown;
    const app: WsgiApp = (_env, startResponse) => {
      startResponse('200 OK', []);
      try {
        startResponse('500 Internal Server Error', []);
      } catch (err) {
        thrown = err;
        throw err;
      }
      return [];
    };
    await assert.rejects(run(app), isWsgiError);
    assert.ok(isWsgiError(thrown));
  });

  test('a second call with excInfo before the body started replaces the status', async () => {
    const app: WsgiApp = (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      startResponse('503 Service Unavailable', [['Retry-After', '5']], new Error('db down'));
      return ['try later'];
    };
    const res = await fromWsgi(app)(get(), context);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.equal(res.headers.get('content-type'), null);
    assert.equal(await res.text(), 'try later');
  });

  test('a call with excInfo after the body started re-throws that error into the app', async () => {
    const original = new Error('failed half way');
    let rethrown: unknown;
    const app: WsgiApp = (_env, startResponse) => {
      startResponse('200 OK', []);
      return (function* body() {
        yield 'first part';
        try {
          startResponse('500 Internal Server Error', [], original);
        } catch (err) {
          rethrown = err;
          throw err;
        }
      })();
    };
    const res = await fromWsgi(app)(get(), context);
    assert.equal(res.status, 200);
    await assert.rejects(res.text(), (err: unknown) => err === original);
    assert.equal(rethrown, original);
  });

  const badStatuses = [
    '200',
    '200OK',
    'OK 200',
    '200  ',
    '99 Too Low',
    '600 Too High',
    '2000 OK',
    '200 OK\r\nX-Evil: 1',
    '',
  ];
  for (const status of badStatuses) {
    test(`status line ${JSON.stringify(status)} is rejected`, async () => {
      const app: WsgiApp = (_env, startResponse) => {
        startResponse(status, []);
        return [];
      };
      await assert.rejects(run(app), isWsgiError);
    });
  }

  test('the reason phrase is kept as the status text', async () => {
    const app: WsgiApp = (_env, startResponse) => {
      startResponse('404 Nothing Here', []);
      return ['no'];
    };
    const res = await fromWsgi(app)(get(), context);
    assert.equal(res.status, 404);
    assert.equal(res.statusText, 'Nothing Here');
  });

  const badHeaders: [string, [string, string][]][] = [
    ['a hop-by-hop header', [['Connection', 'close']]],
    ['Transfer-Encoding', [['Transfer-Encoding', 'chunked']]],
    ['a name with a space', [['Bad Name', 'x']]],
    ['a value with a newline', [['X-Ok', 'a\r\nX-Evil: 1']]],
  ];
  for (const [what, headers] of badHeaders) {
    test(`${what} in the response headers is rejected`, async () => {
      const app: WsgiApp = (_env, startResponse) => {
        startResponse('200 OK', headers);
        return [];
      };
      await assert.rejects(run(app), isWsgiError);
    });
  }

  test('repeated headers such as Set-Cookie are all sent', async () => {
    const app: WsgiApp = (_env, startResponse) => {
      startResponse('200 OK', [
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', 'b=2'],
      ]);
      return [];
    };
    const res = await fromWsgi(app)(get(), context);
    assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
  });

  test('an app that returns without calling start_response fails', async () => {
    await assert.rejects(
      run(() => ['body']),
      isWsgiError,
    );
  });

  test('write() output comes before the iterable, in call order', async () => {
    const app: WsgiApp = (_env, startResponse) => {
      const write = startResponse('200 OK', []);
      write('a');
      write(new TextEncoder().encode('b'));
      return (function* body() {
        yield 'c';
        write('d');
        yield 'e';
      })();
    };
    assert.equal(await (await fromWsgi(app)(get(), context)).text(), 'abcde');
  });
});

describe('the response body', () => {
  test('close() is called after the body was sent', async () => {
    const body = closable(['a', 'b']);
    const res = await run(answering('200 OK', body));
    assert.equal(await res.text(), 'ab');
    assert.equal(body.closed, 1);
  });

  test('close() is called when iteration fails', async () => {
    const body = closable(['a'], new Error('iteration failed'));
    const res = await run(answering('200 OK', body));
    await assert.rejects(res.text(), /iteration failed/);
    assert.equal(body.closed, 1);
  });

  test('close() is called when the client goes away mid-body', async () => {
    const body = closable(['a', 'b', 'c']);
    const res = await run(answering('200 OK', body));
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    assert.equal(body.closed, 1);
  });

  test('close() is called when start_response was never called', async () => {
    const body = closable(['a']);
    await assert.rejects(
      run(() => body),
      isWsgiError,
    );
    assert.equal(body.closed, 1);
  });

  test('an async iterable body streams chunk by chunk', async () => {
    const app: WsgiApp = (_env, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* body() {
        yield 'one ';
        yield new TextEncoder().encode('two');
      })();
    };
    assert.equal(await (await fromWsgi(app)(get(), context)).text(), 'one two');
  });

  test('a 204 has no body even if the app yields one, and the iterable is still closed', async () => {
    const body = closable(['ignored']);
    const res = await run(answering('204 No Content', body));
    assert.equal(res.status, 204);
    assert.equal(res.body, null);
    assert.equal(body.closed, 1);
  });

  test('a string returned instead of an iterable of chunks is an error', async () => {
    const app = ((_env: WsgiEnviron, startResponse: (s: string, h: [string, string][]) => void) => {
      startResponse('200 OK', []);
      return 'oops';
    }) as unknown as WsgiApp;
    await assert.rejects(run(app), isWsgiError);
  });

  test('a chunk that is neither string nor bytes is an error', async () => {
    const app = ((_env: WsgiEnviron, startResponse: (s: string, h: [string, string][]) => void) => {
      startResponse('200 OK', []);
      return [42];
    }) as unknown as WsgiApp;
    await assert.rejects(run(app), isWsgiError);
  });
});

describe('environ', () => {
  async function environFor(
    request: Request,
    options: Parameters<typeof fromWsgi>[1] = {},
  ): Promise<WsgiEnviron> {
    let seen: WsgiEnviron | null = null;
    const app: WsgiApp = (environ, startResponse) => {
      seen = environ;
      startResponse('200 OK', []);
      return [];
    };
    await (await fromWsgi(app, options)(request, context)).text();
    assert.ok(seen);
    return seen;
  }

  test('carries the CGI variables, the HTTP_ headers and the wsgi.* keys', async () => {
    const request = get('/shop/cart%20items?id=7&x=%20', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': '9',
        'X-Forwarded-For': '1.2.3.4',
        Accept: 'text/html',
      },
      body: '{"a": 1}\n',
    });
    const env = await environFor(request);
    assert.equal(env.REQUEST_METHOD, 'POST');
    assert.equal(env.SCRIPT_NAME, '');
    assert.equal(env.PATH_INFO, '/shop/cart items');
    assert.equal(env.QUERY_STRING, 'id=7&x=%20');
    assert.equal(env.CONTENT_TYPE, 'application/json');
    assert.equal(env.CONTENT_LENGTH, '9');
    assert.equal(env.SERVER_NAME, 'app.test');
    assert.equal(env.SERVER_PORT, '8002');
    assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
    assert.equal(env.REMOTE_ADDR, '10.1.2.3');
    assert.equal(env.HTTP_X_FORWARDED_FOR, '1.2.3.4');
    assert.equal(env.HTTP_ACCEPT, 'text/html');
    assert.equal(env.HTTP_CONTENT_TYPE, undefined);
    assert.equal(env.HTTP_CONTENT_LENGTH, undefined);
    assert.deepEqual(env['wsgi.version'], [1, 0]);
    assert.equal(env['wsgi.url_scheme'], 'http');
    assert.equal(env['wsgi.multithread'], false);
    assert.equal(env['wsgi.multiprocess'], true);
    assert.equal(env['wsgi.run_once'], false);
    assert.equal(env['gatehouse.request_id'], 'req-7');
    assert.deepEqual(env['gatehouse.worker'], context.worker);
  });

  test('a GET without a body has no CONTENT_TYPE or CONTENT_LENGTH and an empty wsgi.input', async () => {
    let input: Uint8Array | null = null;
    const app: WsgiApp = async (environ, startResponse) => {
      input = await environ['wsgi.input'].read();
      assert.equal('CONTENT_TYPE' in environ, false);
      assert.equal('CONTENT_LENGTH' in environ, false);
      startResponse('200 OK', []);
      return [];
    };
    await (await fromWsgi(app)(get('/'), context)).text();
    assert.equal(input!.byteLength, 0);
  });

  test('headers with underscores are dropped, so they cannot pose as dashed ones', async () => {
    const env = await environFor(get('/', { headers: { 'X-User_Id': 'spoofed', 'X-User-Id': 'real' } }));
    assert.equal(env.HTTP_X_USER_ID, 'real');
  });

  test('the port defaults by scheme and the scheme is https for https URLs', async () => {
    const env = await environFor(new Request('https://secure.test/'));
    assert.equal(env.SERVER_PORT, '443');
    assert.equal(env['wsgi.url_scheme'], 'https');
  });

  test('scriptName splits the path into SCRIPT_NAME and PATH_INFO', async () => {
    const env = await environFor(get('/app/users/1'), { scriptName: '/app' });
    assert.equal(env.SCRIPT_NAME, '/app');
    assert.equal(env.PATH_INFO, '/users/1');
    const other = await environFor(get('/apple'), { scriptName: '/app' });
    assert.equal(other.SCRIPT_NAME, '');
    assert.equal(other.PATH_INFO, '/apple');
  });

  test('wsgi.input reads the body in sized parts, then empty at the end', async () => {
    const parts: string[] = [];
    const app: WsgiApp = async (environ, startResponse) => {
      const input = environ['wsgi.input'];
      const decoder = new TextDecoder();
      for (let part = await input.read(4); part.byteLength > 0; part = await input.read(4))
        parts.push(decoder.decode(part));
      startResponse('200 OK', []);
      return [];
    };
    await (await fromWsgi(app)(get('/', { method: 'POST', body: 'abcdefghij' }), context)).text();
    assert.deepEqual(parts, ['abcd', 'efgh', 'ij']);
  });

  test('wsgi.input is async-iterable', async () => {
    const app: WsgiApp = async (environ, startResponse) => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of environ['wsgi.input']) chunks.push(chunk);
      startResponse('200 OK', []);
      return chunks;
    };
    const res = await fromWsgi(app)(get('/', { method: 'PUT', body: 'echo me' }), context);
    assert.equal(await res.text(), 'echo me');
  });

  test('wsgi.errors is the stream given in the options', async () => {
    const lines: string[] = [];
    const errors: WsgiErrors = { write: (text) => void lines.push(text), flush: () => {} };
    const app: WsgiApp = (environ, startResponse) => {
      environ['wsgi.errors'].write('something odd\n');
      startResponse('200 OK', []);
      return [];
    };
    await (await fromWsgi(app, { errors })(get(), context)).text();
    assert.deepEqual(lines, ['something odd\n']);
  });
});
