import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig, parseDuration } from '../../config/index.js';

// The compose file, the Dockerfile and config/compose.yaml must agree; no Docker needed.

const root = join(import.meta.dirname, '..', '..', '..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<
    string,
    Record<string, unknown> & { healthcheck?: { test: string[] }; stop_grace_period?: string }
  >;
};
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const config = loadConfig({ file: join(root, 'config', 'compose.yaml') });
/** A variable as compose interpolates it; the fallback is what a plain `docker compose up` uses. */
const variable = (name: string, fallback: string) => `\${${name}:-${fallback}}`;

describe('docker-compose.yml', () => {
  test("probes the services with exactly the image's HEALTHCHECK command", () => {
    const line = /^HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])$/m.exec(dockerfile);
    assert.ok(line, 'the Dockerfile has an exec-form HEALTHCHECK');
    const imageTest = ['CMD', ...(JSON.parse(line[1]!) as string[])];
    assert.deepEqual(compose.services.app?.healthcheck?.test, imageTest);
    assert.deepEqual(compose.services.proxy?.healthcheck?.test, imageTest);
  });

  test('gives every gatehouse container an init and a stop grace period longer than its drain', () => {
    for (const name of ['app', 'proxy']) {
      const service = compose.services[name]!;
      assert.equal(service.init, true, name);
      const grace = parseDuration(service.stop_grace_period) ?? 0;
      assert.ok(grace > config.workers.gracePeriod, `${name}: ${grace} ms > workers.grace_period`);
      assert.ok(grace > config.timeouts.shutdown, `${name}: ${grace} ms > timeouts.shutdown`);
    }
  });

  test('the proxy re-resolves the app service, on the port the workers listen on', () => {
    assert.equal(config.upstream.resolve?.host, 'app');
    assert.equal(config.upstream.resolve?.port, config.workers.port);
    assert.ok(config.upstream.resolve!.interval <= 5_000, 'scaling shows within seconds');
    assert.deepEqual(compose.services.proxy?.depends_on, { app: { condition: 'service_healthy' } });
  });

  test('publishes the proxy and nginx on loopback by default, the status listener not at all', () => {
    assert.deepEqual(compose.services.proxy?.ports, [
      `${variable('GATEHOUSE_BIND', '127.0.0.1')}:${variable('GATEHOUSE_PORT', '8080')}:8080`,
    ]);
    assert.deepEqual(compose.services.nginx?.ports, [
      `${variable('GATEHOUSE_BIND', '127.0.0.1')}:${variable('GATEHOUSE_NGINX_PORT', '8088')}:8080`,
    ]);
    assert.equal(config.listen.port, 8080);
    // Inside the container, for its healthcheck: off loopback it would need status.token.
    assert.deepEqual(config.status.listen, { host: '127.0.0.1', port: 8081 });
  });

  test('keeps nginx behind its profile, with the rendered compose config and the static files it serves', () => {
    assert.deepEqual(compose.services.nginx?.profiles, ['nginx']);
    assert.deepEqual(compose.services.nginx?.volumes, [
      './nginx/gatehouse.compose.conf:/etc/nginx/conf.d/default.conf:ro',
      './app/site/static:/srv/gatehouse/app/site/static:ro',
    ]);
    assert.match(
      readFileSync(join(root, 'nginx', 'gatehouse.compose.conf'), 'utf8'),
      /root \/srv\/gatehouse\/app\/site;/,
    );
    assert.deepEqual(compose.services.app?.deploy, { replicas: 2 });
  });
});

type Service = Record<string, unknown> & {
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  command?: string[];
  user?: string;
};
const override = (name: string) =>
  parse(readFileSync(join(root, name), 'utf8')) as {
    services: Record<string, Service>;
    volumes?: Record<string, unknown>;
  };
/** The config file a container path of the image names (/app/config/x.yaml → config/x.yaml). */
const imageConfig = (path: string) => {
  const file = /^\$\{GATEHOUSE_PROXY_CONFIG:-(\/app\/config\/[^}]+)\}$/.exec(path)?.[1] ?? path;
  assert.match(file, /^\/app\/config\//);
  return loadConfig({ file: join(root, file.slice('/app/'.length)), env: {} });
};

describe('docker-compose.two-apps.yml', () => {
  const file = override('docker-compose.two-apps.yml');

  test("adds a hello service running the WSGI hello app, and the proxy's config routes to it by its service name", () => {
    const hello = file.services.hello!;
    assert.deepEqual(hello.command, ['worker', '--app', 'dist/app/examples/wsgi-hello.js']);
    const proxyConfig = imageConfig(file.services.proxy!.environment!.GATEHOUSE_CONFIG!);
    const pools = proxyConfig.routes.flatMap((r) => (r.target.kind === 'pool' ? [r.target.upstream] : []));
    assert.ok(pools.some((u) => u.resolve?.host === 'hello' && u.resolve.port === proxyConfig.workers.port));
    assert.equal(proxyConfig.upstream.resolve?.host, 'app', 'the site stays the top-level pool');
    assert.deepEqual(file.services.proxy!.depends_on, { hello: { condition: 'service_healthy' } });
  });
});

describe('docker-compose.tls.yml', () => {
  const file = override('docker-compose.tls.yml');
  const proxy = file.services.proxy!;

  test('publishes the TLS listener of its config, on loopback by default', () => {
    const tls = imageConfig(proxy.environment!.GATEHOUSE_CONFIG!).tls;
    assert.ok(tls, 'the proxy config has tls:');
    assert.deepEqual(proxy.ports, [
      `\${GATEHOUSE_BIND:-127.0.0.1}:\${GATEHOUSE_TLS_PORT:-8443}:${tls.listen.port}`,
    ]);
  });

  test('the proxy reads its certificate from the certs volume, read-only, installed by the one-shot certs service', () => {
    const tls = imageConfig(proxy.environment!.GATEHOUSE_CONFIG!).tls!;
    assert.deepEqual(proxy.volumes, ['certs:/app/certs:ro']);
    assert.deepEqual(tls.certificates, [{ cert: '/app/certs/cert.pem', key: '/app/certs/key.pem' }]);
    assert.deepEqual(proxy.depends_on, { certs: { condition: 'service_completed_successfully' } });
    const certs = file.services.certs!;
    assert.equal(certs.user, 'root');
    // Only the pair: the dev CA's key stays on the host.
    assert.deepEqual(certs.volumes, [
      `${variable('GATEHOUSE_TLS_CERT', './.gatehouse/certs/localhost.pem')}:/run/host-certs/cert.pem:ro`,
      `${variable('GATEHOUSE_TLS_KEY', './.gatehouse/certs/localhost-key.pem')}:/run/host-certs/key.pem:ro`,
      'certs:/app/certs',
    ]);
    assert.ok(file.volumes && 'certs' in file.volumes);
  });

  test('certificates and keys under .gatehouse/ never go into an image', () => {
    assert.match(readFileSync(join(root, '.dockerignore'), 'utf8'), /^\.gatehouse$/m);
  });
});
