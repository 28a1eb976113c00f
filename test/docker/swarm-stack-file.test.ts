import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig, parseDuration } from '../../config/index.js';
import { proxyServiceSpec, stackConfig, workerServiceSpec } from '../../deploy/docker/index.js';
import { SWARM_RESOLVE, stopTimeoutSeconds } from '../../deploy/docker/stack-config.js';
import { SERVICE_ALIAS, swarmHealthcheck } from '../../deploy/docker/swarm-specs.js';

// docker-stack.yml (the `docker stack deploy` path), config/swarm.yaml and the Swarm deployer's
// service specs (the `gatehouse deploy --swarm` path) must describe the same stack; no Docker needed.

const root = join(import.meta.dirname, '..', '..', '..');
const read = (file: string) => parse(readFileSync(join(root, file), 'utf8'), { merge: true });
// biome-ignore lint/suspicious/noExplicitAny: a parsed compose file
const stack = read('docker-stack.yml') as { version: string; services: Record<string, any> };
// biome-ignore lint/suspicious/noExplicitAny: a parsed compose file
const compose = read('docker-compose.yml') as { services: Record<string, any> };
const config = loadConfig({ file: join(root, 'config', 'swarm.yaml') });
const seconds = (value: string) => (parseDuration(value) ?? Number.NaN) / 1000;

const options = {
  stack: 'gatehouse',
  image: { ref: 'sha256:abc', tag: 'gatehouse:latest' },
  networkId: 'net',
  config: { id: 'cfg', name: 'gatehouse_gatehouse-0' },
  stopTimeout: stopTimeoutSeconds(config.workers.gracePeriod),
};
const worker = workerServiceSpec({ ...options, replicas: 2 });
const proxy = proxyServiceSpec({ ...options, port: 8080 });

describe('docker-stack.yml and gatehouse deploy --swarm', () => {
  test('is a file `docker stack deploy` takes: a v3 version and none of the compose-only keys', () => {
    assert.match(stack.version, /^3\.\d+$/);
    for (const [name, service] of Object.entries(stack.services)) {
      for (const key of ['build', 'profiles', 'depends_on', 'restart', 'container_name'])
        assert.equal(service[key], undefined, `${name}.${key}`);
    }
  });

  test('the proxy re-resolves tasks.app with config/swarm.yaml, as the deployer configures it', () => {
    assert.deepEqual(
      { host: config.upstream.resolve?.host, port: config.upstream.resolve?.port },
      { host: `tasks.${SERVICE_ALIAS.worker}`, port: config.workers.port },
    );
    assert.equal(config.upstream.resolve?.interval, parseDuration(SWARM_RESOLVE.interval));
    assert.deepEqual(
      stackConfig('gatehouse', null, 'test', 'swarm').config.upstream.resolve,
      config.upstream.resolve,
    );
    assert.ok(Object.keys(stack.services).includes(SERVICE_ALIAS.worker));
    for (const name of ['app', 'proxy'])
      assert.deepEqual(stack.services[name].command.slice(1), ['--config', '/app/config/swarm.yaml']);
  });

  test('dnsrr endpoints and a host-mode port: no virtual IP, no ingress routing mesh', () => {
    assert.equal(stack.services.app.deploy.endpoint_mode, 'dnsrr');
    assert.equal(stack.services.proxy.deploy.endpoint_mode, 'dnsrr');
    // Compose interpolates the variable; the default is what a plain `docker stack deploy` publishes.
    const variable = (name: string, fallback: string) => `\${${name}:-${fallback}}`;
    assert.deepEqual(stack.services.proxy.ports, [
      { target: 8080, published: variable('GATEHOUSE_PORT', '8080'), protocol: 'tcp', mode: 'host' },
    ]);
    assert.equal(worker.EndpointSpec?.Mode, 'dnsrr');
    assert.deepEqual(proxy.EndpointSpec, {
      Mode: 'dnsrr',
      Ports: [{ Protocol: 'tcp', TargetPort: 8080, PublishedPort: 8080, PublishMode: 'host' }],
    });
  });

  test('health-gated, start-first rolling updates of the workers that roll back on failure, in both', () => {
    const update = stack.services.app.deploy.update_config;
    assert.deepEqual(worker.UpdateConfig, {
      Parallelism: update.parallelism,
      Delay: seconds(update.delay) * 1e9,
      Order: update.order,
      FailureAction: update.failure_action,
      Monitor: seconds(update.monitor) * 1e9,
    });
    assert.equal(update.order, 'start-first');
    assert.equal(update.failure_action, 'rollback');
    assert.equal(stack.services.proxy.deploy.update_config.order, 'stop-first', 'the host port is held');
    assert.equal(proxy.UpdateConfig?.Order, 'stop-first');
  });

  test("probes with the image's healthcheck, as patiently as the deployer does", () => {
    for (const name of ['app', 'proxy']) {
      const check = stack.services[name].healthcheck;
      assert.deepEqual(check.test, compose.services.app.healthcheck.test, "the Dockerfile's command");
      assert.equal(seconds(check.interval) * 1e9, swarmHealthcheck.Interval);
      assert.equal(seconds(check.timeout) * 1e9, swarmHealthcheck.Timeout);
      assert.equal(check.retries, swarmHealthcheck.Retries);
    }
    assert.deepEqual(
      worker.TaskTemplate &&
        'ContainerSpec' in worker.TaskTemplate &&
        worker.TaskTemplate.ContainerSpec?.HealthCheck,
      swarmHealthcheck,
    );
  });

  test('an init, a stop grace period longer than the drain, restarts and resource limits', () => {
    for (const name of ['app', 'proxy']) {
      const service = stack.services[name];
      assert.equal(service.init, true, name);
      const grace = seconds(service.stop_grace_period) * 1000;
      assert.ok(grace > config.workers.gracePeriod && grace > config.timeouts.shutdown, name);
      assert.equal(seconds(service.stop_grace_period), options.stopTimeout, 'the same as the deployer');
      assert.equal(service.deploy.restart_policy.condition, 'any');
      assert.ok(service.deploy.resources.limits.memory, `${name}: a memory limit`);
    }
    assert.ok(stack.services.app.deploy.resources.limits.cpus, 'workers: a CPU limit');
    assert.equal(stack.services.app.deploy.replicas, 2);
  });
});
