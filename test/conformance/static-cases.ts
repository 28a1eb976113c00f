import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { headerValue } from '../helpers/raw-backend.js';
import { type CaseEnv, type ConformanceCase, describe, send } from './case.js';

/**
 * Static routes (issue 17) on both fronts: our proxy's file server (proxy/static/) and nginx's
 * static, index and gzip_static modules as rendered (nginx/render-static.ts), over one folder.
 * Layout: <dir>/site is the route's root, so /static/x is <dir>/site/static/x (nginx `root`);
 * <dir>/outside holds what no request may ever read.
 */
const SECRET = 'SECRET-OUTSIDE-THE-ROOT';
const ROOT_FILE = 'ROOT-FILE-NOT-UNDER-STATIC';
const CSS = 'body { color: #333; }\n';
const LETTERS = 'abcdefghijklmnopqrstuvwxyz'.repeat(4);
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(200))});\n`;
/** Fixed, whole-second modification time: the validators both fronts derive from it are the same. */
const MTIME = new Date('2024-03-01T12:00:00Z');

let fixture: string | null = null;

/** Made once per process on first use; nginx's workers (nobody) must be able to read it all. */
export function staticFixture(): string {
  if (fixture) return fixture;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-static-cases-'));
  chmodSync(dir, 0o755);
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = (path: string, content: string | Buffer) => {
    writeFileSync(join(dir, path), content, { mode: 0o644 });
    utimesSync(join(dir, path), MTIME, MTIME);
  };
  for (const folder of ['site/static/docs', 'site/static/empty', 'outside'])
    mkdirSync(join(dir, folder), { recursive: true, mode: 0o755 });
  file('site/static/site.css', CSS);
  file('site/static/letters.txt', LETTERS);
  file('site/static/logo.svg', '<svg xmlns="http://www.w3.org/2000/svg"/>\n');
  file('site/static/data.unknownext', 'data');
  file('site/static/app.js', SCRIPT);
  file('site/static/app.js.gz', gzipSync(SCRIPT));
  file('site/static/docs/index.html', '<p>docs</p>\n');
  file('site/x', ROOT_FILE);
  file('outside/secret.txt', SECRET);
  symlinkSync(join(dir, 'outside', 'secret.txt'), join(dir, 'site', 'static', 'escape.txt'));
  symlinkSync(join(dir, 'outside'), join(dir, 'site', 'static', 'escape-dir'));
  fixture = dir;
  return dir;
}

/** The top-level pool at "/", files at /static/ (1h, immutable) and at /assets/ with the prefix stripped. */
const staticRoutes = () => {
  const dir = staticFixture();
  return {
    routes: [
      { path: '/' },
      { path: '/static/', static: { root: join(dir, 'site'), expires: '1h', immutable: true } },
      { path: '/assets/', strip_prefix: true, static: { root: join(dir, 'site', 'static'), expires: 'off' } },
    ],
  };
};

const forwarded = (env: CaseEnv) => env.raw.flatMap((b) => b.requests.map((r) => r.startLine));

function validators(path: string): { etag: string; lastModified: string; size: number } {
  const stats = statSync(join(staticFixture(), path));
  const seconds = Math.floor(stats.mtimeMs / 1000);
  return {
    etag: `"${seconds.toString(16)}-${stats.size.toString(16)}"`,
    lastModified: new Date(seconds * 1000).toUTCString(),
    size: stats.size,
  };
}

function assertNothingOutside(response: { body: Buffer }): void {
  const body = response.body.toString('latin1');
  assert.ok(!body.includes(SECRET), 'a file outside the root was served');
  assert.ok(!body.includes(ROOT_FILE), 'a file outside the route was served from disk');
}

const base = { backends: [{ kind: 'raw' as const, name: 'a' }], overrides: staticRoutes };

export const staticCases: ConformanceCase[] = [
  {
    ...base,
    name: 'static: a file is 200 with Content-Type by extension, nginx-style ETag, Last-Modified, Cache-Control from expires; no worker asked',
    async check(env) {
      const response = await send(env, { target: '/static/site.css' });
      assert.equal(response.status, 200, describe(response));
      assert.equal(response.body.toString(), CSS);
      assert.equal(headerValue(response, 'content-type'), 'text/css; charset=utf-8');
      const { etag, lastModified, size } = validators('site/static/site.css');
      assert.equal(headerValue(response, 'etag'), etag);
      assert.equal(headerValue(response, 'last-modified'), lastModified);
      assert.equal(headerValue(response, 'content-length'), String(size));
      assert.equal(headerValue(response, 'accept-ranges'), 'bytes');
      assert.equal(headerValue(response, 'cache-control'), 'max-age=3600, immutable');
      assert.ok(headerValue(response, 'expires'), 'Expires is sent with max-age');
      for (const [target, type] of [
        ['/static/logo.svg', 'image/svg+xml'],
        ['/static/data.unknownext', 'application/octet-stream'],
      ] as const) {
        const other = await send(env, { target });
        assert.equal(other.status, 200, describe(other));
        assert.equal(headerValue(other, 'content-type'), type);
      }
      assert.deepEqual(forwarded(env), []);
    },
  },
  {
    ...base,
    name: 'static: HEAD has the GET headers (Content-Length of the file) and no body',
    async check(env) {
      const response = await send(env, { method: 'HEAD', target: '/static/letters.txt' });
      assert.equal(response.status, 200, describe(response));
      assert.equal(headerValue(response, 'content-length'), String(LETTERS.length));
      assert.equal(headerValue(response, 'etag'), validators('site/static/letters.txt').etag);
      assert.equal(response.body.length, 0);
    },
  },
  {
    ...base,
    name: 'static: If-None-Match with the ETag → 304, and If-Modified-Since with the exact date → 304; another ETag → 200',
    async check(env) {
      const { etag, lastModified } = validators('site/static/site.css');
      for (const header of [`If-None-Match: ${etag}`, `If-Modified-Since: ${lastModified}`]) {
        const response = await send(env, { target: '/static/site.css', headers: [header] });
        assert.equal(response.status, 304, `${header}\n${describe(response)}`);
        assert.equal(response.body.length, 0);
        assert.equal(headerValue(response, 'etag'), etag);
      }
      const changed = await send(env, { target: '/static/site.css', headers: ['If-None-Match: "other"'] });
      assert.equal(changed.status, 200, describe(changed));
    },
  },
  {
    ...base,
    name: 'static: one Range → 206 with Content-Range; past the end → 416 with Content-Range bytes */size',
    async check(env) {
      const part = await send(env, { target: '/static/letters.txt', headers: ['Range: bytes=10-19'] });
      assert.equal(part.status, 206, describe(part));
      assert.equal(part.body.toString(), LETTERS.slice(10, 20));
      assert.equal(headerValue(part, 'content-range'), `bytes 10-19/${LETTERS.length}`);
      const tail = await send(env, { target: '/static/letters.txt', headers: ['Range: bytes=-5'] });
      assert.equal(tail.status, 206, describe(tail));
      assert.equal(tail.body.toString(), LETTERS.slice(-5));
      const past = await send(env, { target: '/static/letters.txt', headers: ['Range: bytes=5000-'] });
      assert.equal(past.status, 416, describe(past));
      assert.equal(headerValue(past, 'content-range'), `bytes */${LETTERS.length}`);
      const several = await send(env, { target: '/static/letters.txt', headers: ['Range: bytes=0-1,5-6'] });
      assert.equal(several.status, 200, describe(several));
      assert.equal(several.body.toString(), LETTERS);
    },
  },
  {
    ...base,
    name: 'static: a missing file is 404 from the front, and no worker is asked',
    async check(env) {
      for (const target of ['/static/nope.css', '/static/docs/nope/', '/assets/nope.css']) {
        const response = await send(env, { target });
        assert.equal(response.status, 404, `${target}\n${describe(response)}`);
      }
      assert.deepEqual(forwarded(env), []);
    },
  },
  {
    ...base,
    name: 'static: a directory is its index.html; without the slash 301 to it (relative, with the query); no index → 404',
    async check(env) {
      const index = await send(env, { target: '/static/docs/' });
      assert.equal(index.status, 200, describe(index));
      assert.equal(index.body.toString(), '<p>docs</p>\n');
      assert.equal(headerValue(index, 'content-type'), 'text/html; charset=utf-8');
      const bare = await send(env, { target: '/static/docs?x=1' });
      assert.equal(bare.status, 301, describe(bare));
      assert.equal(headerValue(bare, 'location'), '/static/docs/?x=1');
      const empty = await send(env, { target: '/static/empty/' });
      assert.equal(empty.status, 404, describe(empty));
      assert.deepEqual(forwarded(env), []);
    },
  },
  {
    ...base,
    name: 'static: strip_prefix serves the rest of the path from the root (nginx alias), its index too',
    async check(env) {
      const css = await send(env, { target: '/assets/site.css' });
      assert.equal(css.status, 200, describe(css));
      assert.equal(css.body.toString(), CSS);
      assert.equal(headerValue(css, 'cache-control'), undefined, 'expires: off sends no Cache-Control');
      const index = await send(env, { target: '/assets/docs/' });
      assert.equal(index.status, 200, describe(index));
      assert.equal(index.body.toString(), '<p>docs</p>\n');
    },
  },
  {
    ...base,
    name: 'static: a .gz sibling is sent with Content-Encoding gzip to a client that takes gzip, with Vary; others get the file',
    async check(env) {
      const gz = await send(env, { target: '/static/app.js', headers: ['Accept-Encoding: gzip'] });
      assert.equal(gz.status, 200, describe(gz));
      assert.equal(headerValue(gz, 'content-encoding'), 'gzip');
      assert.equal(headerValue(gz, 'vary'), 'Accept-Encoding');
      assert.equal(headerValue(gz, 'content-type'), 'application/javascript; charset=utf-8');
      assert.equal(gz.body.length, statSync(join(staticFixture(), 'site/static/app.js.gz')).size);
      const plain = await send(env, { target: '/static/app.js' });
      assert.equal(plain.status, 200, describe(plain));
      assert.equal(headerValue(plain, 'content-encoding'), undefined);
      assert.equal(plain.body.toString(), SCRIPT);
      assert.equal(headerValue(plain, 'vary'), 'Accept-Encoding');
    },
  },
  {
    ...base,
    name: 'static: methods other than GET and HEAD on a file → 405',
    async check(env) {
      for (const method of ['POST', 'DELETE']) {
        const response = await send(env, { method, target: '/static/site.css' });
        assert.equal(response.status, 405, `${method}\n${describe(response)}`);
      }
      assert.deepEqual(forwarded(env), []);
    },
  },
  {
    ...base,
    name: 'static traversal: /static/../x and /static/%2e%2e/x are /x (the pool at "/"), never a file from disk',
    async check(env) {
      for (const target of ['/static/../x', '/static/%2e%2e/x', '/static/%2E%2E%2Fx']) {
        const response = await send(env, { target });
        assert.equal(response.status, 200, `${target}\n${describe(response)}`);
        assert.equal(response.body.toString(), 'a\n', `${target}: answered by the pool`);
      }
      assert.equal(forwarded(env).length, 3);
    },
  },
  {
    ...base,
    name: 'static traversal: a path climbing above "/" (plain, %2e%2e%2f) or holding %00 → 400, nothing read',
    async check(env) {
      for (const target of [
        '/static/../../outside/secret.txt',
        '/static/%2e%2e%2f%2e%2e%2foutside/secret.txt',
        '/static/site.css%00.txt',
      ]) {
        const response = await send(env, { target });
        assert.equal(response.status, 400, `${target}\n${describe(response)}`);
        assertNothingOutside(response);
      }
      assert.deepEqual(forwarded(env), []);
    },
  },
  {
    ...base,
    name: 'static traversal: a backslash is part of a name (..%5c stays inside the root) → 404',
    async check(env) {
      const response = await send(env, { target: '/static/..%5c..%5coutside%5csecret.txt' });
      assert.equal(response.status, 404, describe(response));
      assertNothingOutside(response);
    },
  },
  {
    ...base,
    name: 'static traversal: a symlink out of the root is never followed → 4xx (ours 404, nginx 403)',
    differs: {
      gatehouse: 'a symlink whose real path leaves the root: 404; symlinks inside the root are followed',
      nginx: 'disable_symlinks on from=$document_root: any symlink below the root is 403',
    },
    async check(env) {
      for (const target of ['/static/escape.txt', '/static/escape-dir/secret.txt']) {
        const response = await send(env, { target });
        assert.ok(response.status >= 400 && response.status < 500, `${target}\n${describe(response)}`);
        assertNothingOutside(response);
      }
      assert.deepEqual(forwarded(env), []);
    },
  },
];
