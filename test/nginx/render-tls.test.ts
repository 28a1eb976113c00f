import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { TlsConfig } from '../../config/index.js';
import { installedNginxVersion } from '../../nginx/nginx-version.js';
import { renderNginx } from '../../nginx/render.js';
import { hasHttp2Directive } from '../../nginx/render-tls.js';
import { gatehouseBin } from '../helpers/child.js';
import { configFrom, nginxTest } from '../helpers/nginx.js';
import { makeCa, makeLeaf } from '../helpers/openssl-certs.js';
import { requires } from '../helpers/system-deps.js';

// The tls section rendered for nginx (render-tls.ts): text checks, and real `nginx -t` on the
// syntax of the nginx installed here (1.22: `listen … ssl http2`). Serving is tested by the TLS
// conformance cases (test/conformance/tls.test.ts), which run real nginx on this render.

describe('nginx TLS render', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-render-tls-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = makeCa(dir);
  const shop = makeLeaf(dir, 'shop', ca, ['shop.example', '*.shop.example']);
  const blog = makeLeaf(dir, 'blog', ca, ['blog.example']);
  // The single pool (no routes); `withDefaultRoutes` has the embedded default's routes (/static/).
  // Temp files under this test's folder: `nginx -t` fails while the default's (<tmpdir>/gatehouse-buffers)
  // is missing, as it is on a fresh machine until some proxy made it.
  const config = configFrom({ listen: '127.0.0.1:8080', routes: [], buffering: { temp_path: dir } });
  const withDefaultRoutes = configFrom({ listen: '127.0.0.1:8080' });

  function tls(overrides: Partial<TlsConfig> = {}): TlsConfig {
    return {
      listen: { host: '127.0.0.1', port: 8443 },
      certificates: [shop, blog],
      minVersion: 'TLSv1.2',
      http2: true,
      redirectHttp: true,
      hsts: 0,
      acme: null,
      ...overrides,
    };
  }
  const render = (t: TlsConfig, nginxVersion: string | null = '1.22.1') =>
    renderNginx({ ...config, tls: t }, { target: 'host', nginxVersion });

  test('the http2 directive exists from nginx 1.25.1 on', () => {
    assert.deepEqual(
      ['1.22.1', '1.25.0', '1.25.1', '1.27.3', '2.0.0', 'nginx/1.26.2', null, 'unknown'].map(
        hasHttp2Directive,
      ),
      [false, false, true, true, true, true, false, false],
    );
  });

  test('host-less routes (the default /static/) are in every TLS server too', () => {
    const text = renderNginx(
      { ...withDefaultRoutes, tls: tls() },
      { target: 'host', nginxVersion: '1.22.1' },
    );
    for (const server of text.split('# TLS for').slice(1)) {
      assert.match(server, /^ {4}location \/static\/ \{$/m);
      assert.match(server, /^ {4}location \/ \{$/m);
    }
  });

  test('one TLS server per certificate, named from its certificate, the first the default', () => {
    const text = render(tls());
    const servers = [
      ...text.matchAll(/listen 127\.0\.0\.1:8443 ssl http2( default_server)?;\n\s+server_name ([^;]+);/g),
    ];
    assert.deepEqual(
      servers.map((m) => [m[2], Boolean(m[1])]),
      [
        ['shop.example *.shop.example', true],
        ['blog.example', false],
      ],
    );
    assert.match(text, new RegExp(`ssl_certificate ${shop.cert};\\n\\s+ssl_certificate_key ${shop.key};`));
    assert.match(text, new RegExp(`ssl_certificate ${blog.cert};\\n\\s+ssl_certificate_key ${blog.key};`));
    assert.equal(text.match(/ssl_protocols TLSv1\.2 TLSv1\.3;/g)?.length, 2);
    assert.doesNotMatch(text, /http2 on;|Strict-Transport-Security/);
    // Each TLS server passes on to the pool with the contract headers, as the plain one did.
    assert.equal(text.match(/proxy_set_header X-Forwarded-Proto \$gatehouse_forwarded_proto;/g)?.length, 4);
  });

  test('nginx 1.25.1 and later: listen … ssl plus http2 on; TLSv1.3 only; HSTS on every answer', () => {
    const text = render(tls({ minVersion: 'TLSv1.3', hsts: 31536000 }), '1.27.3');
    assert.match(text, /listen 127\.0\.0\.1:8443 ssl default_server;\n\s+http2 on;/);
    assert.doesNotMatch(text, /ssl http2/);
    assert.equal(text.match(/ssl_protocols TLSv1\.3;/g)?.length, 2);
    assert.equal(text.match(/add_header Strict-Transport-Security "max-age=31536000" always;/g)?.length, 2);
  });

  test('http2 off: neither form', () => {
    const text = render(tls({ http2: false }), '1.27.3');
    assert.doesNotMatch(text, /http2/);
  });

  test('the plain server redirects with 308, except ACME challenges and /healthz', () => {
    const text = render(tls());
    const plain = text.slice(text.indexOf('listen 127.0.0.1:8080;'), text.indexOf('# TLS for'));
    assert.match(plain, /location \/ \{\n\s+return 308 https:\/\/\$host:8443\$request_uri;\n\s+\}/);
    assert.match(
      plain,
      /location \^~ \/\.well-known\/acme-challenge\/ \{\n\s+proxy_pass http:\/\/gatehouse;/,
    );
    assert.match(plain, /location = \/healthz \{\n\s+proxy_pass http:\/\/gatehouse;/);
    assert.match(
      render(tls({ listen: { host: '0.0.0.0', port: 443 } })),
      /return 308 https:\/\/\$host\$request_uri;/,
    );
    const noRedirect = render(tls({ redirectHttp: false }));
    assert.doesNotMatch(noRedirect, /return 308/);
  });

  test('with acme: the certificate AcmeManager keeps in storage, named from the domains; challenges to its responder', () => {
    const storage = join(dir, 'acme');
    const acme = {
      email: 'ops@shop.example',
      directory: 'https://acme.example/dir',
      domains: ['www.shop.example'],
      storage,
    };
    const text = renderNginx(
      { ...config, tls: tls({ certificates: [], acme }) },
      { target: 'host', nginxVersion: '1.22.1', acmeResponder: { host: '127.0.0.1', port: 8089 } },
    );
    assert.match(text, /server_name www\.shop\.example;/);
    assert.match(text, new RegExp(`ssl_certificate ${join(storage, 'certificate.pem')};`));
    assert.match(text, new RegExp(`ssl_certificate_key ${join(storage, 'certificate.key')};`));
    assert.match(
      text,
      /location \^~ \/\.well-known\/acme-challenge\/ \{\n\s+proxy_pass http:\/\/127\.0\.0\.1:8089;/,
    );
  });

  test('with routes: each route host a TLS server with the certificate SNI picks for it, the route locations in it', () => {
    const routes = [
      { host: 'blog.example', path: '/', redirect: { to: 'https://shop.example', status: 302 } },
      { host: 'api.shop.example', upstream: { servers: [{ address: '127.0.0.1:9001' }] } },
      { path: '/' },
    ];
    const text = renderNginx(
      { ...configFrom({ listen: '127.0.0.1:8080', routes }), tls: tls() },
      { target: 'host', nginxVersion: '1.22.1' },
    );
    const servers = [
      ...text.matchAll(
        /listen 127\.0\.0\.1:8443 ssl http2( default_server)?;\n\s+ssl_certificate ([^;]+);[\s\S]*?server_name ([^;]+);/g,
      ),
    ].map((m) => [m[3], m[2] === shop.cert ? 'shop' : 'blog', Boolean(m[1])]);
    assert.deepEqual(servers, [
      ['blog.example', 'blog', false],
      ['api.shop.example', 'shop', false], // *.shop.example covers it
      ['_', 'shop', true],
      // The names of the first certificate that no route host takes: the default server's routes.
      ['shop.example *.shop.example', 'shop', false],
    ]);
    assert.match(text, /return 302 https:\/\/shop\.example\$request_uri;/);
    assert.match(
      text,
      /server_name api\.shop\.example;[\s\S]*?proxy_pass http:\/\/gatehouse_api_shop_example_;/,
    );
    // The plain listener still only redirects (and answers ACME challenges and /healthz).
    const plain = text.slice(text.indexOf('listen 127.0.0.1:8080;'), text.indexOf('listen 127.0.0.1:8443'));
    assert.doesNotMatch(plain, /server_name/);
    assert.match(plain, /return 308 https:\/\/\$host:8443\$request_uri;/);
  });

  test('with routes and no redirect: the plain listener carries the route servers too', () => {
    const text = renderNginx(
      {
        ...configFrom({ listen: '127.0.0.1:8080', routes: [{ host: 'blog.example' }] }),
        tls: tls({ redirectHttp: false }),
      },
      { target: 'host', nginxVersion: '1.22.1' },
    );
    assert.match(text, /listen 127\.0\.0\.1:8080 default_server;\n\s+server_name _;/);
    assert.match(text, /listen 127\.0\.0\.1:8080;\n\s+server_name blog\.example;/);
    assert.doesNotMatch(text, /return 308/);
  });

  test('a certificate file that cannot be read fails the render, naming the file', () => {
    assert.throws(
      () => render(tls({ certificates: [{ cert: join(dir, 'missing.pem'), key: shop.key }] })),
      /missing\.pem/,
    );
  });

  describe('nginx -t', requires('nginx'), () => {
    const version = installedNginxVersion();
    test(`accepts the render for the installed nginx (${version}): two certificates, redirect, HSTS`, () => {
      const { ok, output } = nginxTest(render(tls({ hsts: 600 }), version));
      assert.ok(ok, output);
    });
    test('`gatehouse nginx` on a config file with a tls section: the installed syntax, or the one told', () => {
      const file = join(dir, 'gatehouse-tls.yaml');
      writeFileSync(
        file,
        JSON.stringify({
          listen: '127.0.0.1:8080',
          buffering: { temp_path: dir },
          tls: { listen: '127.0.0.1:8443', certificates: [shop, blog] },
        }),
      );
      const installed = gatehouse('nginx', '--config', file);
      assert.equal(installed.status, 0, installed.stderr);
      const listen = hasHttp2Directive(version)
        ? /listen 127\.0\.0\.1:8443 ssl default_server;\n\s+http2 on;/
        : /listen 127\.0\.0\.1:8443 ssl http2 default_server;/;
      assert.match(installed.stdout, listen);
      assert.match(installed.stdout, /server_name shop\.example \*\.shop\.example;/);
      const { ok, output } = nginxTest(installed.stdout);
      assert.ok(ok, output);

      const newer = gatehouse('nginx', '--config', file, '--nginx-version', '1.25.1');
      assert.equal(newer.status, 0, newer.stderr);
      assert.match(newer.stdout, /listen 127\.0\.0\.1:8443 ssl default_server;\n\s+http2 on;/);
      const older = gatehouse('nginx', '--config', file, '--nginx-version', '1.22.1');
      assert.match(older.stdout, /listen 127\.0\.0\.1:8443 ssl http2 default_server;/);

      const bad = gatehouse('nginx', '--config', file, '--nginx-version', 'latest');
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /--nginx-version latest: give a version such as 1\.25\.1/);
    });
    test('accepts routes with TLS: a server per route host, certificates picked by name', () => {
      const routes = [
        { host: 'blog.example', redirect: { to: 'https://shop.example', status: 302 } },
        { host: '*.shop.example', upstream: { servers: [{ address: '127.0.0.1:9001' }] } },
      ];
      const text = renderNginx(
        { ...configFrom({ listen: '127.0.0.1:8080', buffering: { temp_path: dir }, routes }), tls: tls() },
        { target: 'host', nginxVersion: version },
      );
      const { ok, output } = nginxTest(text);
      assert.ok(ok, output);
    });
    test('accepts TLSv1.3 only, no http2, no redirect', () => {
      const { ok, output } = nginxTest(
        render(tls({ minVersion: 'TLSv1.3', http2: false, redirectHttp: false }), version),
      );
      assert.ok(ok, output);
    });
  });
});

/** `gatehouse ARGS` as a user runs it (no config from the environment). */
function gatehouse(...args: string[]): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['GATEHOUSE_CONFIG', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT']) delete env[name];
  return spawnSync(process.execPath, [gatehouseBin, ...args], { env, encoding: 'utf8', timeout: 30_000 });
}
