import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import {
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, createBrotliDecompress, createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { openCompressors } from '../../proxy/compression/index.js';
import { listenLocal } from '../helpers/net.js';
import { type InProcessProxy, servers, startProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Compression at the front (proxy/compression/), end to end through our proxy in this process, in
 * front of a real HTTP backend on port 0: what the client gets for each Accept-Encoding and each
 * kind of answer, bodies decoded and compared with what the backend sent.
 */

const PAGE = Buffer.from(
  `<!doctype html><title>compressed</title>${Array.from({ length: 400 }, (_, i) => `<p>line ${i} of a page that compresses well</p>`).join('\n')}`,
);
/** Less regular than PAGE: gzip level 1 and level 5 make bodies of different sizes of it. */
const LIST = Buffer.from(
  Array.from(
    { length: 2000 },
    (_, i) => `<li data-id="${(i * 7919) % 10007}">item ${i} costs ${((i * 104729) % 997) / 10}</li>`,
  ).join('\n'),
);
/** Random text: it compresses to about three quarters, so megabytes of it stay megabytes on the wire. */
const NOISE = Buffer.from(randomBytes(3 * 1024 * 1024).toString('base64'));
const GZIPPED = gzipSync('already encoded by the worker '.repeat(100));

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as it came off the wire (still encoded). */
  body: Buffer;
}

/** Streamed answers wait for the test: `release` lets the backend write its second part and end. */
const streams = { release: () => {}, ended: false };
/** The worker's side of an endless answer: whether its response closed (the proxy let go). */
const endless = { closed: false, written: 0 };
/** The worker finished writing the large answer (buffered by the proxy while the client waits). */
const large = { finished: false };

function backend(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/page') {
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': PAGE.length,
      ETag: '"v1"',
      'Accept-Ranges': 'bytes',
    });
    res.end(PAGE);
  } else if (path === '/list') {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(LIST);
  } else if (path === '/vary') {
    res.writeHead(200, { 'Content-Type': 'text/html', Vary: 'Cookie' });
    res.end(PAGE);
  } else if (path === '/small') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
    res.end('tiny body\n');
  } else if (path === '/image') {
    res.writeHead(200, { 'Content-Type': 'image/png' });
    res.end(PAGE);
  } else if (path === '/encoded') {
    res.writeHead(200, {
      'Content-Type': 'text/plain',
      'Content-Encoding': 'gzip',
      'Content-Length': GZIPPED.length,
    });
    res.end(GZIPPED);
  } else if (path === '/no-transform') {
    res.writeHead(200, {
      'Content-Type': 'text/html',
      'Cache-Control': 'no-transform',
      'Content-Length': PAGE.length,
    });
    res.end(PAGE);
  } else if (path === '/range') {
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!range) {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': PAGE.length });
      res.end(PAGE);
      return;
    }
    const [from, to] = [Number(range[1]), Number(range[2])];
    const part = PAGE.subarray(from, to + 1);
    res.writeHead(206, {
      'Content-Type': 'text/html',
      'Content-Range': `bytes ${from}-${to}/${PAGE.length}`,
      'Content-Length': part.length,
    });
    res.end(part);
  } else if (path === '/stream') {
    // Chunked, in two parts: the second only once the test says the client saw the first.
    streams.ended = false;
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.write('<!doctype html><p>first part, sent before the page is done</p>\n');
    const timer = setTimeout(finish, 20_000);
    streams.release = finish;
    function finish(): void {
      clearTimeout(timer);
      streams.ended = true;
      res.end('<p>second part</p>\n');
    }
  } else if (path === '/endless') {
    endless.closed = false;
    endless.written = 0;
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.on('close', () => {
      endless.closed = true;
    });
    // Never the same bytes twice in zlib's window: each write is new to the compressor.
    const timer = setInterval(() => {
      const at = endless.written % (NOISE.length - 16 * 1024);
      endless.written += 16 * 1024;
      res.write(NOISE.subarray(at, at + 16 * 1024));
    }, 5);
    res.on('close', () => clearInterval(timer));
  } else if (path === '/dies') {
    // A worker that dies mid-body: part of the page, then its connection is cut.
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.write(NOISE.subarray(0, 64 * 1024), () => setTimeout(() => res.socket?.destroy(), 50));
  } else if (path === '/large') {
    large.finished = false;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': NOISE.length });
    res.end(NOISE, () => {
      large.finished = true;
    });
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not here\n');
  }
}

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method, headers, agent: false, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path} within 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** A GET asking for `coding` whose response is handed over as it arrives, not read whole. */
function streamRequest(
  port: number,
  path: string,
  coding: string,
  onResponse: (res: IncomingMessage) => void,
  onError: (err: Error) => void,
): ClientRequest {
  const req = httpRequest(
    { host: '127.0.0.1', port, path, headers: { 'Accept-Encoding': coding }, agent: false },
    onResponse,
  );
  req.on('error', onError);
  req.end();
  return req;
}

function decode(response: Response): Buffer {
  const coding = response.headers['content-encoding'];
  if (coding === 'br') return brotliDecompressSync(response.body);
  if (coding === 'gzip') return gunzipSync(response.body);
  assert.equal(coding, undefined, `unexpected Content-Encoding ${coding}`);
  return response.body;
}

describe('compression through the proxy', () => {
  let proxy: InProcessProxy;
  let logDir: string;
  let workerPort: number;
  const worker = createServer(backend);

  before(async () => {
    const port = await listenLocal(worker);
    workerPort = port;
    logDir = mkdtempSync(join(tmpdir(), 'gatehouse-compression-'));
    proxy = await startProxy(null, {
      upstream: { servers: servers(port) },
      access_log: { path: join(logDir, 'access.log'), format: 'json' },
      // Small memory: the large answer is held in a temp file of the run's own folder.
      buffering: { memory: '16k', temp_path: join(logDir, 'buffers') },
    });
  });
  after(async () => {
    streams.release();
    await proxy?.close();
    worker.closeAllConnections();
    await new Promise((resolve) => worker.close(resolve));
    rmSync(logDir, { recursive: true, force: true });
  });

  test('br when the client accepts br and gzip: Vary, no Content-Length, a weak ETag, no Accept-Ranges, the page decoded', async () => {
    const response = await get(proxy.port, '/page', { 'Accept-Encoding': 'gzip, deflate, br' });
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-encoding'], 'br');
    assert.equal(response.headers.vary, 'Accept-Encoding');
    assert.equal(response.headers['content-length'], undefined);
    assert.equal(response.headers['transfer-encoding'], 'chunked');
    assert.equal(response.headers.etag, 'W/"v1"');
    assert.equal(response.headers['accept-ranges'], undefined);
    assert.ok(response.body.length < PAGE.length / 4, `${response.body.length} bytes for ${PAGE.length}`);
    assert.deepEqual(decode(response), PAGE);
  });

  test('gzip when the client prefers it; the access log counts the compressed bytes sent', async () => {
    const response = await get(proxy.port, '/page?gzip', { 'Accept-Encoding': 'br;q=0.5, gzip' });
    assert.equal(response.headers['content-encoding'], 'gzip');
    assert.deepEqual(decode(response), PAGE);
    const line = await waitFor('the access log line', async () =>
      readFileSync(join(logDir, 'access.log'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((text) => JSON.parse(text) as { uri: string; body_bytes_sent: number })
        .find((entry) => entry.uri === '/page?gzip'),
    );
    assert.equal(line.body_bytes_sent, response.body.length);
  });

  test('identity without Accept-Encoding, and with every coding refused by q=0: Content-Length kept, Vary still', async () => {
    const variants: Record<string, string>[] = [
      {},
      { 'Accept-Encoding': 'gzip;q=0, br;q=0' },
      { 'Accept-Encoding': 'identity' },
    ];
    for (const headers of variants) {
      const response = await get(proxy.port, '/page', headers);
      assert.equal(response.headers['content-encoding'], undefined, JSON.stringify(headers));
      assert.equal(response.headers['content-length'], String(PAGE.length));
      assert.equal(response.headers.etag, '"v1"');
      assert.equal(response.headers.vary, 'Accept-Encoding');
      assert.deepEqual(response.body, PAGE);
    }
  });

  test("Accept-Encoding joins the worker's own Vary", async () => {
    const response = await get(proxy.port, '/vary', { 'Accept-Encoding': 'gzip' });
    assert.equal(response.headers.vary, 'Cookie, Accept-Encoding');
    assert.deepEqual(decode(response), PAGE);
  });

  test('left as the worker sent it: already encoded, a type not listed, shorter than min_length, no-transform', async () => {
    const encoded = await get(proxy.port, '/encoded', { 'Accept-Encoding': 'br, gzip' });
    assert.equal(encoded.headers['content-encoding'], 'gzip');
    assert.deepEqual(encoded.body, GZIPPED);
    for (const path of ['/image', '/small', '/no-transform']) {
      const response = await get(proxy.port, path, { 'Accept-Encoding': 'br, gzip' });
      assert.equal(response.status, 200);
      assert.equal(response.headers['content-encoding'], undefined, path);
      assert.equal(response.headers.vary, undefined, path);
    }
  });

  test('a Range request gets the 206 as the worker sent it', async () => {
    const response = await get(proxy.port, '/range', { 'Accept-Encoding': 'gzip', Range: 'bytes=0-99' });
    assert.equal(response.status, 206);
    assert.equal(response.headers['content-encoding'], undefined);
    assert.equal(response.headers['content-range'], `bytes 0-99/${PAGE.length}`);
    assert.deepEqual(response.body, PAGE.subarray(0, 100));
  });

  test('HEAD: the head a GET would get (Content-Encoding, Vary, no Content-Length), no body, no zlib stream', async () => {
    const before = openCompressors();
    const response = await get(proxy.port, '/page', { 'Accept-Encoding': 'gzip' }, 'HEAD');
    assert.equal(response.status, 200);
    assert.equal(response.headers['content-encoding'], 'gzip');
    assert.equal(response.headers.vary, 'Accept-Encoding');
    assert.equal(response.headers['content-length'], undefined);
    assert.equal(response.body.length, 0);
    assert.equal(openCompressors(), before);
  });

  test('a 404 of a listed type is compressed too (as nginx: 200, 403, 404)', async () => {
    const response = await get(proxy.port, '/missing', { 'Accept-Encoding': 'gzip' });
    assert.equal(response.status, 404);
    assert.equal(response.headers['content-encoding'], 'gzip');
    assert.equal(decode(response).toString(), 'not here\n');
  });

  for (const coding of ['br', 'gzip'] as const) {
    test(`${coding}: a streamed page's first part reaches the client, decoded, before the worker ends it`, async () => {
      const seen: string[] = [];
      let endedWhenFirstSeen: boolean | null = null;
      const body = await new Promise<string>((resolve, reject) => {
        streamRequest(
          proxy.port,
          '/stream',
          coding,
          (res) => {
            assert.equal(res.headers['content-encoding'], coding);
            const decoder = coding === 'br' ? createBrotliDecompress() : createGunzip();
            res.pipe(decoder);
            decoder.on('data', (chunk: Buffer) => {
              seen.push(chunk.toString());
              if (seen.length === 1) {
                endedWhenFirstSeen = streams.ended;
                streams.release();
              }
            });
            decoder.on('end', () => resolve(seen.join('')));
            decoder.on('error', reject);
          },
          reject,
        );
      });
      assert.equal(endedWhenFirstSeen, false, 'the first part arrived only after the worker ended the page');
      assert.equal(
        body,
        '<!doctype html><p>first part, sent before the page is done</p>\n<p>second part</p>\n',
      );
    });
  }

  test('with buffering.response a slow client does not hold the worker: it finishes first, the client decodes it all', async () => {
    const received: Buffer[] = [];
    let workerDoneBeforeClientRead = false;
    await new Promise<void>((resolve, reject) => {
      streamRequest(
        proxy.port,
        '/large',
        'gzip',
        (res) => {
          res.pause();
          // The client reads nothing until the worker has written everything.
          waitFor('the worker to finish writing', async () => large.finished, 30_000).then(() => {
            workerDoneBeforeClientRead = true;
            res.on('data', (chunk: Buffer) => received.push(chunk));
            res.on('end', resolve);
            res.resume();
          }, reject);
        },
        reject,
      );
    });
    assert.ok(workerDoneBeforeClientRead);
    assert.deepEqual(gunzipSync(Buffer.concat(received)), NOISE);
  });

  test('compression.types, min_length and level: a listed image type and a 10-byte body compressed, level 1 larger than the default 5', async (t) => {
    const other = await startProxy(t, {
      upstream: { servers: servers(workerPort) },
      compression: { types: ['image/png', 'text/plain'], min_length: 5, level: 1 },
    });
    const image = await get(other.port, '/image', { 'Accept-Encoding': 'gzip' });
    assert.equal(image.headers['content-encoding'], 'gzip');
    assert.deepEqual(decode(image), PAGE);
    const small = await get(other.port, '/small', { 'Accept-Encoding': 'br' });
    assert.equal(small.headers['content-encoding'], 'br');
    assert.equal(decode(small).toString(), 'tiny body\n');
    // text/html is compressed though not listed (nginx too); level 1 gives more bytes than 5.
    const fast = await get(other.port, '/list', { 'Accept-Encoding': 'gzip' });
    const usual = await get(proxy.port, '/list', { 'Accept-Encoding': 'gzip' });
    assert.deepEqual(decode(fast), LIST);
    assert.ok(
      fast.body.length > usual.body.length,
      `level 1: ${fast.body.length} bytes, level 5: ${usual.body.length}`,
    );
  });

  test('a worker that dies mid-body: the client sees the response cut, no zlib stream is left open, the proxy serves on', async () => {
    const outcome = await new Promise<string>((resolve) => {
      streamRequest(
        proxy.port,
        '/dies',
        'gzip',
        (res) => {
          res.on('data', () => {});
          res.on('aborted', () => resolve('aborted'));
          res.on('error', () => resolve('aborted'));
          res.on('end', () => resolve(res.complete ? 'complete' : 'aborted'));
        },
        () => resolve('error'),
      );
    });
    assert.notEqual(outcome, 'complete');
    await waitFor(
      `the zlib streams to close (${openCompressors()} open)`,
      async () => openCompressors() === 0,
      20_000,
    );
    const response = await get(proxy.port, '/page', { 'Accept-Encoding': 'br' });
    assert.deepEqual(decode(response), PAGE);
    assert.deepEqual(proxy.crashes(), []);
  });

  test('development reload: a page it tags goes uncompressed with its tag; other types are still compressed', async (t) => {
    const dev = await startProxy(t, { upstream: { servers: servers(workerPort) } }, { devReload: true });
    const page = await get(dev.port, '/page', { 'Accept-Encoding': 'gzip, br' });
    assert.equal(page.headers['content-encoding'], undefined);
    assert.equal(page.headers.vary, 'Accept-Encoding');
    assert.match(page.body.toString(), /<script src="[^"]+" async><\/script>/);
    const text = await get(dev.port, '/missing', { 'Accept-Encoding': 'gzip' });
    assert.equal(text.headers['content-encoding'], 'gzip');
    assert.equal(decode(text).toString(), 'not here\n');
  });

  test('a client that leaves mid-body: the worker is let go, no zlib stream is left open, the proxy serves on', async () => {
    const before = openCompressors();
    await new Promise<void>((resolve, reject) => {
      const req = streamRequest(
        proxy.port,
        '/endless',
        'gzip',
        (res) => {
          let got = 0;
          res.on('data', (chunk: Buffer) => {
            got += chunk.length;
            if (got > 64 * 1024) {
              req.destroy();
              resolve();
            }
          });
        },
        () => {},
      );
      setTimeout(() => reject(new Error('no 64 KiB of the endless body within 20 s')), 20_000).unref();
    });
    await waitFor('the worker to be let go', async () => endless.closed, 20_000);
    await waitFor(
      `the zlib streams to close (${openCompressors()} open)`,
      async () => openCompressors() <= before,
      20_000,
    );
    assert.equal(openCompressors(), 0);
    const response = await get(proxy.port, '/page', { 'Accept-Encoding': 'gzip' });
    assert.deepEqual(decode(response), PAGE);
    assert.deepEqual(proxy.crashes(), []);
  });
});
