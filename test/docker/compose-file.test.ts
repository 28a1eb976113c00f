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
    // Compose interpolates these; the defaults are what a plain `docker compose up` publishes.
    const variable = (name: string, fallback: string) => `\${${name}:-${fallback}}`;
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
