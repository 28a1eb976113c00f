import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { packageRoot } from '../../config/index.js';
import { type ProxyProcess, request, startProxyProcess } from '../helpers/proxy.js';
import { createRawBackend, type RawBackend } from '../helpers/raw-backend.js';

const CSS = join(packageRoot, 'app', 'site', 'static', 'site.css');

/** Polls a condition (a log line is written after the response): no fixed sleeps. */
async function until<T>(read: () => T | undefined, what: string, timeout = 10_000): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('static route of the default config, in a real proxy process', () => {
  let backend: RawBackend;
  let proxy: ProxyProcess;
  let dir = '';
  const accessLog = () => join(dir, 'access.log');
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-static-route-'));
    backend = await createRawBackend({ name: 'site' });
    // No routes key: the embedded default's (site for "/", static for /static/).
    proxy = await startProxyProcess(null, {
      config: {
        upstream: { servers: [{ address: backend.address }] },
        access_log: { format: 'combined', path: accessLog() },
      },
    });
  });
  after(async () => {
    await proxy?.stop();
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/static/site.css comes from app/site/static, no worker asked; other paths reach the pool', async () => {
    const css = await request(proxy.port, { path: '/static/site.css' });
    assert.equal(css.status, 200, css.text);
    assert.equal(css.text, readFileSync(CSS, 'utf8'));
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    assert.equal(css.headers['cache-control'], 'max-age=3600');
    assert.equal(backend.requests.length, 0);
    const page = await request(proxy.port, { path: '/' });
    assert.equal(page.status, 200);
    assert.deepEqual(
      backend.requests.map((r) => r.startLine),
      ['GET / HTTP/1.1'],
    );
  });

  test('the access log and metrics see static answers as any other (route static, upstream none)', async () => {
    await request(proxy.port, { path: '/static/logo.svg' });
    await request(proxy.port, { path: '/static/missing.css' });
    const size = statSync(join(packageRoot, 'app', 'site', 'static', 'logo.svg')).size;
    const lines = await until(() => {
      const text = (() => {
        try {
          return readFileSync(accessLog(), 'utf8');
        } catch {
          return '';
        }
      })();
      return text.includes('/static/missing.css') ? text : undefined;
    }, 'the access log lines');
    assert.match(lines, new RegExp(`"GET /static/logo\\.svg HTTP/1\\.1" 200 ${size} `));
    assert.match(lines, /"GET \/static\/missing\.css HTTP\/1\.1" 404 \d+ /);
    const metrics = (await request(proxy.statusPort, { path: '/metrics' })).text;
    assert.match(
      metrics,
      /^gatehouse_requests_total\{route="static",upstream="none",code_class="2xx"\} [1-9]/m,
    );
    assert.match(
      metrics,
      /^gatehouse_requests_total\{route="static",upstream="none",code_class="4xx"\} [1-9]/m,
    );
  });
});

describe('static files kept in memory are never stale, in a real proxy process', () => {
  let backend: RawBackend;
  let proxy: ProxyProcess;
  let root = '';
  const file = (name: string) => join(root, 'files', name);
  const get = async (path: string, headers: Record<string, string> = {}) =>
    request(proxy.port, { path: `/files/${path}`, headers });

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'gatehouse-static-kept-'));
    mkdirSync(join(root, 'files'));
    writeFileSync(file('page.txt'), 'version one');
    writeFileSync(file('app.js'), 'let version = 1;');
    writeFileSync(file('app.js.gz'), gzipSync('let version = 1;'));
    writeFileSync(file('style.css'), 'body { color: black }');
    writeFileSync(file('style.css.br'), brotliCompressSync('body { color: black }'));
    writeFileSync(file('style.css.gz'), gzipSync('body { color: black }'));
    // Older than a second before the first request: a file changed more recently is read each time.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    backend = await createRawBackend({ name: 'site' });
    proxy = await startProxyProcess(null, {
      config: {
        upstream: { servers: [{ address: backend.address }] },
        routes: [{ path: '/files/', static: { root } }],
      },
    });
  });
  after(async () => {
    await proxy?.stop();
    await backend?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('a file answered again, then written in place, replaced, and removed: each answer is the file on disk', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get('page.txt')).text, 'version one');
    const range = await get('page.txt', { Range: 'bytes=8-10' });
    assert.equal(range.status, 206);
    assert.equal(range.text, 'one');

    // Same size, in place, within the same second as the reads above.
    writeFileSync(file('page.txt'), 'version two');
    assert.equal((await get('page.txt')).text, 'version two');

    writeFileSync(file('page.next'), 'version three, longer');
    renameSync(file('page.next'), file('page.txt'));
    const replaced = await get('page.txt');
    assert.equal(replaced.text, 'version three, longer');
    assert.equal(replaced.headers['content-length'], '21');

    unlinkSync(file('page.txt'));
    assert.equal((await get('page.txt')).status, 404);
  });

  test('a precompressed sibling the same way: kept, then replaced, then gone', async () => {
    const gzip = { 'Accept-Encoding': 'gzip' };
    for (let i = 0; i < 2; i++) {
      const sent = await get('app.js', gzip);
      assert.equal(sent.headers['content-encoding'], 'gzip');
      assert.equal(gunzipSync(sent.body).toString(), 'let version = 1;');
    }
    writeFileSync(file('app.js.next'), gzipSync('let version = 2;'));
    renameSync(file('app.js.next'), file('app.js.gz'));
    assert.equal(gunzipSync((await get('app.js', gzip)).body).toString(), 'let version = 2;');
    unlinkSync(file('app.js.gz'));
    const plain = await get('app.js', gzip);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.text, 'let version = 1;');
  });

  test('.br before .gz at equal preference, as Accept-Encoding chooses; none to a client that takes neither', async () => {
    const br = await get('style.css', { 'Accept-Encoding': 'gzip, br' });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers.vary, 'Accept-Encoding');
    assert.equal(brotliDecompressSync(br.body).toString(), 'body { color: black }');
    const gz = await get('style.css', { 'Accept-Encoding': 'br;q=0.5, gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(gz.body).toString(), 'body { color: black }');
    const plain = await get('style.css', { 'Accept-Encoding': 'identity' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.equal(plain.text, 'body { color: black }');
  });
});
