import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig, packageRoot } from '../../config/index.js';
import { renderNginx } from '../../nginx/render.js';
import { configFrom, nginxTest } from '../helpers/nginx.js';
import { requires } from '../helpers/system-deps.js';
import { LIMITED_ROUTES } from './limit-configs.js';

// Real `nginx -t` (Debian's nginx-light) on the rendered snippets, each included in http {} of a
// main nginx.conf of the test's own, with its own prefix.

function assertAccepted(snippet: string): void {
  const { ok, output } = nginxTest(snippet);
  assert.ok(ok, `nginx -t refused the config:\n${output}`);
  assert.match(output, /test is successful/);
}

describe('nginx -t', requires('nginx'), () => {
  const logDir = mkdtempSync(join(tmpdir(), 'gatehouse-nginx-t-logs-'));
  after(() => rmSync(logDir, { recursive: true, force: true }));

  test("accepts the committed host config (its temp folder moved into the test's own)", () => {
    // nginx -t makes the temp paths' last level and fails when their parent is missing: the
    // committed /tmp/gatehouse-buffers is not this machine's to make.
    const committed = readFileSync(join(packageRoot, 'nginx', 'gatehouse.host.conf'), 'utf8');
    assert.match(committed, /^ +proxy_temp_path \/tmp\/gatehouse-buffers\/nginx-proxy;$/m);
    assertAccepted(committed.replaceAll(' /tmp/gatehouse-buffers/', ` ${logDir}/`));
  });

  test('accepts the compose config (rendered with its name pointed at 127.0.0.1: "app" resolves only in compose)', () => {
    const config = loadConfig({ file: join(packageRoot, 'config', 'compose.yaml'), env: {} });
    const resolve = { port: 3000, interval: 5000, ...config.upstream.resolve, host: '127.0.0.1' };
    const hostsFree = { ...config, upstream: { ...config.upstream, resolve } };
    const text = renderNginx(hostsFree, { target: 'compose' });
    assert.match(text, /server 127\.0\.0\.1:\d+ /);
    // Everything but the server name is the committed render.
    const committed = readFileSync(join(packageRoot, 'nginx', 'gatehouse.compose.conf'), 'utf8');
    const withoutHeader = (s: string) =>
      s.split('\n').filter((line) => !line.startsWith('# ') && !/^\s+server /.test(line));
    assert.deepEqual(withoutHeader(text), withoutHeader(committed));
    assertAccepted(text);
  });

  const variants: Array<[string, Record<string, unknown>]> = [
    [
      'least_conn with a backup server',
      {
        upstream: {
          balance: 'least_conn',
          servers: [{ address: '127.0.0.1:9001' }, { address: '127.0.0.1:9002', backup: true }],
        },
      },
    ],
    ['ip_hash', { upstream: { balance: 'ip_hash' } }],
    ['random', { upstream: { balance: 'random' } }],
    [
      'no upstream keepalive and no retries',
      { upstream: { keepalive: 0 }, retries: { next_upstream: [], tries: 0 } },
    ],
    [
      'trusted proxies (IPv4, IPv6, single addresses)',
      { trusted_proxies: ['10.0.0.0/8', '192.0.2.1', 'fd00::/8', '::1'] },
    ],
    [
      'no buffering, a large memory bound and no temp files',
      {
        buffering: {
          request: false,
          response: false,
          memory: '1m',
          max_temp_file_size: 0,
          temp_path: logDir,
        },
      },
    ],
    [
      'a memory bound that is no multiple of a page and a tiny temp file limit',
      { buffering: { memory: 5000, max_temp_file_size: 1, temp_path: logDir } },
    ],
    [
      'a json access log to a file',
      // nginx -t opens (creates) the log file: it goes in a temp dir removed after the suite.
      { access_log: { format: 'json', path: join(logDir, 'access.log') } },
    ],
    [
      'sub-second timeouts and retries on 5xx',
      {
        timeouts: { read: '1500ms', connect: '250ms' },
        retries: { next_upstream: ['error', 'timeout', 'http_502', 'http_503', 'http_504'] },
      },
    ],
    [
      'routes: hosts (exact, wildcard, none), prefixes, strip_prefix, own pools, redirects with and without the path',
      {
        routes: [
          { name: 'site', host: 'site.test' },
          {
            host: 'site.test',
            path: '/api/',
            strip_prefix: true,
            upstream: { servers: [{ address: '127.0.0.1:9003' }] },
          },
          { host: '*.hello.test', workers: { count: 2, port: 9101 }, upstream: { balance: 'ip_hash' } },
          {
            host: 'site.test',
            path: '/old/',
            strip_prefix: true,
            redirect: { to: 'https://new.test/base', status: 308 },
          },
          { host: 'www.site.test', redirect: { to: 'https://site.test' } },
          { name: 'odd', host: 'site.test', path: '/a;b{c}/' },
        ],
      },
    ],
    [
      'request limits on the single pool, behind trusted proxies',
      { trusted_proxies: ['10.0.0.0/8'], limits: { requests: { rate: '10r/s', burst: 20 } } },
    ],
    [
      'request limits: top level, per route (r/m, nodelay, a header key, no burst), turned off, on a redirect route',
      LIMITED_ROUTES,
    ],
  ];
  for (const [name, raw] of variants) {
    test(`accepts a render with ${name}`, () => {
      // nginx -t makes the temp paths: in the test's folder, unless the variant names its own.
      assertAccepted(
        renderNginx(configFrom({ buffering: { temp_path: logDir }, ...raw }), { target: 'host' }),
      );
    });
  }

  test('accepts every example config (config/examples/*.yaml), rendered for the host', () => {
    const dir = join(packageRoot, 'config', 'examples');
    const files = readdirSync(dir).filter((name) => name.endsWith('.yaml'));
    assert.ok(files.length > 0, 'no example configs');
    for (const name of files) {
      const config = loadConfig({ file: join(dir, name), env: {} });
      const moved = { ...config, buffering: { ...config.buffering, tempPath: logDir } };
      assertAccepted(renderNginx(moved, { target: 'host' }));
    }
  });
});
