import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fromDefaultRoutes } from '../../config/load.js';
import { projectRoot } from '../../config/paths.js';
import { testConfig } from '../helpers/proxy.js';
import { problemAt, problems } from './problems.js';

describe('config routes', () => {
  test('routes: [] — no routes, the top-level pool serves every request', () => {
    assert.deepEqual(testConfig({ routes: [] }).routes, []);
  });

  test('the default: the top-level pool for every path but /static/, served from app/site at the front', () => {
    const [site, files] = testConfig().routes;
    assert.ok(site?.target.kind === 'pool' && site.target.pool === 'default' && site.path === '/');
    assert.equal(files?.path, '/static/');
    assert.ok(files?.target.kind === 'static');
    assert.equal(files.target.root, join(projectRoot(), 'app', 'site'));
  });

  test('a route names itself by host and path, inherits the top-level pool settings, and starts its own workers', () => {
    const config = testConfig({
      upstream: { balance: 'least_conn', keepalive: 7 },
      routes: [
        { host: 'Hello.Example', path: '/api/', strip_prefix: true, workers: { count: 2, port: 9101 } },
        { name: 'site', host: '*' },
      ],
    });
    const [hello, site] = config.routes;
    assert.equal(hello?.name, 'hello.example/api/');
    assert.equal(hello?.host, 'hello.example');
    assert.equal(hello?.stripPrefix, true);
    assert.ok(hello?.target.kind === 'pool');
    assert.equal(hello.target.pool, 'own');
    assert.equal(hello.target.localWorkers, true);
    assert.equal(hello.target.upstream.balance, 'least_conn');
    assert.equal(hello.target.upstream.keepalive, 7);
    assert.deepEqual(
      hello.target.upstream.servers.map((s) => s.address),
      ['127.0.0.1:9101', '127.0.0.1:9102'],
    );
    assert.equal(site?.host, null);
    assert.equal(site?.path, '/');
    assert.ok(site?.target.kind === 'pool' && site.target.pool === 'default');
  });

  test('a route with its own servers does not inherit the top-level servers', () => {
    const config = testConfig({
      upstream: { servers: [{ address: '127.0.0.1:7001' }] },
      routes: [{ path: '/b/', upstream: { servers: [{ address: '127.0.0.1:7002' }] } }],
    });
    const target = config.routes[0]?.target;
    assert.ok(target?.kind === 'pool');
    assert.deepEqual(
      target.upstream.servers.map((s) => s.address),
      ['127.0.0.1:7002'],
    );
  });

  test('a redirect target resolves its settings', () => {
    const config = testConfig({ routes: [{ path: '/old/', redirect: { to: 'https://b.example/new' } }] });
    const old = config.routes[0];
    assert.ok(old?.target.kind === 'redirect');
    assert.equal(old.target.status, 301);
    assert.equal(old.target.to, 'https://b.example/new');
  });

  test('a static root is resolved against the project root; expires is parsed, off means none', () => {
    const config = testConfig({
      routes: [
        { path: '/static/', static: { root: 'app/site', expires: '1h', immutable: true } },
        { path: '/files/', static: { root: 'app/site', expires: 'off' } },
      ],
    });
    const [assets, files] = config.routes;
    assert.ok(assets?.target.kind === 'static' && files?.target.kind === 'static');
    assert.equal(assets.target.root, join(projectRoot(), 'app', 'site'));
    assert.equal(assets.target.expires, 3_600_000);
    assert.equal(assets.target.immutable, true);
    assert.equal(files.target.expires, null);
  });

  test('gatehouse check: a static root that does not exist, or is a file, is named by its key path', () => {
    const list = problems({
      routes: [
        { path: '/a/', static: { root: 'app/site/no-such-folder' } },
        { path: '/b/', static: { root: 'package.json' } },
      ],
    });
    problemAt(list, 'routes.0.static.root', /no-such-folder does not exist/);
    problemAt(list, 'routes.1.static.root', /package\.json is not a directory/);
  });

  test('a problem in a route of the embedded default (a file without routes) says where it came from', () => {
    const problem = { path: 'routes.1.static.root', message: '/srv/app/site does not exist' };
    assert.match(
      fromDefaultRoutes(problem).message,
      /^\/srv\/app\/site does not exist \(a route of the embedded default.*routes: \[\]\)$/,
    );
    const elsewhere = { path: 'listen', message: 'expected host:port' };
    assert.deepEqual(fromDefaultRoutes(elsewhere), elsewhere);
  });

  test('gatehouse check: the same host and path twice is rejected at the second route, as unreachable', () => {
    const list = problems({
      routes: [
        { host: 'a.example', path: '/x/' },
        { host: 'A.example', path: '/x/' },
      ],
    });
    problemAt(list, 'routes.1.path', /same host .* as routes\.0.*unreachable/);
  });

  test('"*" and no host are the same (any) host: overlapping', () => {
    problemAt(problems({ routes: [{ path: '/' }, { host: '*', path: '/' }] }), 'routes.1.path', /routes\.0/);
  });

  test('two targets on one route, a strip_prefix without a trailing slash, a duplicate name: each with its key', () => {
    const list = problems({
      routes: [
        {
          name: 'x',
          path: '/a/',
          upstream: { servers: [{ address: '127.0.0.1:7003' }] },
          redirect: { to: '/' },
        },
        { name: 'x', path: '/b', strip_prefix: true },
      ],
    });
    problemAt(list, 'routes.0', /one of upstream, static or redirect/);
    problemAt(list, 'routes.1.strip_prefix', /ending in "\/"/);
    problemAt(list, 'routes.1.name', /names routes\.0/);
  });

  test('a route upstream with no servers and no workers of its own is rejected', () => {
    problemAt(
      problems({ routes: [{ path: '/b/', upstream: { balance: 'random' } }] }),
      'routes.0.upstream',
      /workers/,
    );
  });

  test("a route's workers on the top-level workers' ports are rejected", () => {
    problemAt(
      problems({ routes: [{ path: '/b/', workers: { count: 1 } }] }),
      'routes.0.workers.port',
      /overlap workers/,
    );
  });

  test('schema problems inside a route carry their key path', () => {
    const list = problems({
      routes: [
        {
          host: 'bad host',
          path: 'no-slash',
          upstream: { balance: 'fastest' },
          redirect: { to: '/', status: 200 },
        },
      ],
    });
    for (const path of [
      'routes.0.host',
      'routes.0.path',
      'routes.0.upstream.balance',
      'routes.0.redirect.status',
    ])
      assert.ok(
        list.some((p) => p.path === path),
        `no problem at ${path}: ${JSON.stringify(list)}`,
      );
  });
});
