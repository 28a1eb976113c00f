import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { type Config, loadConfig } from '../../config/index.js';

// deploy/kubernetes/gatehouse.yaml, offline: every object against the Kubernetes API schemas
// (kubernetes-models), and every name one object uses defined by another. No cluster runs here.

const root = join(import.meta.dirname, '..', '..', '..');
const file = join(root, 'deploy', 'kubernetes', 'gatehouse.yaml');

type Labels = Record<string, string>;
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  env?: Array<{ name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Labels };
  // biome-ignore lint/suspicious/noExplicitAny: each kind's spec, checked by its model
  spec?: any;
  data?: Record<string, string>;
}

const models: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

const manifests = parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
  assert.deepEqual(doc.errors, [], 'the file is valid YAML');
  return doc.toJS() as Manifest;
});
const named = (kind: string, name: string) =>
  manifests.find((m) => m.kind === kind && m.metadata.name === name);
const all = (kind: string) => manifests.filter((m) => m.kind === kind);
const selects = (selector: Labels, labels: Labels | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const podLabels = (d: Manifest): Labels => d.spec.template.metadata.labels;
const containers = (d: Manifest): Container[] => d.spec.template.spec.containers;

/** The gatehouse config in the ConfigMap, loaded as `gatehouse check` would. */
function configOf(map: Manifest, key: string): Config {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-k8s-'));
  try {
    writeFileSync(join(dir, key), map.data?.[key] ?? '');
    // Both Deployments set GATEHOUSE_STATUS_TOKEN from the Secret gatehouse-status.
    return loadConfig({ file: join(dir, key), env: { GATEHOUSE_STATUS_TOKEN: 'a-token-from-the-secret' } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Kubernetes manifests (deploy/kubernetes/gatehouse.yaml)', () => {
  test('every object is valid against the Kubernetes API schema of its kind', () => {
    assert.deepEqual(manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort(), [
      'ConfigMap/gatehouse-config',
      'Deployment/gatehouse-app',
      'Deployment/gatehouse-proxy',
      'PodDisruptionBudget/gatehouse-app',
      'PodDisruptionBudget/gatehouse-proxy',
      'Service/gatehouse-app',
      'Service/gatehouse-proxy',
    ]);
    for (const m of manifests) {
      const Model = models[`${m.apiVersion}/${m.kind}`];
      assert.ok(Model, `${m.apiVersion} ${m.kind} is a known kind`);
      assert.doesNotThrow(() => new Model(m as never).validate(), `${m.kind}/${m.metadata.name}`);
    }
  });

  test('the schema check is real: a wrong type or a missing required field fails', () => {
    const app = structuredClone(named('Deployment', 'gatehouse-app')!);
    app.spec.replicas = 'two';
    assert.throws(() => new Deployment(app as never).validate());
    const service = structuredClone(named('Service', 'gatehouse-app')!);
    delete service.spec.ports[0].port;
    assert.throws(() => new Service(service as never).validate());
  });

  test('each Deployment selects its own pods, and every Service and PodDisruptionBudget selects one', () => {
    const deployments = all('Deployment');
    for (const d of deployments)
      assert.ok(selects(d.spec.selector.matchLabels, podLabels(d)), d.metadata.name);
    for (const m of [...all('Service'), ...all('PodDisruptionBudget')]) {
      const selector: Labels = m.kind === 'Service' ? m.spec.selector : m.spec.selector.matchLabels;
      const targets = deployments.filter((d) => selects(selector, podLabels(d)));
      assert.deepEqual(
        targets.map((d) => d.metadata.name),
        [m.metadata.name],
        `${m.kind}/${m.metadata.name} selects the pods of the Deployment of its name, only`,
      );
    }
  });

  test('every port, ConfigMap and key a pod refers to is defined', () => {
    for (const d of all('Deployment')) {
      const pod = d.spec.template.spec;
      for (const c of containers(d)) {
        const ports = new Set((c.ports ?? []).flatMap((p) => [p.name, p.containerPort]));
        for (const probe of [c.readinessProbe, c.livenessProbe])
          assert.ok(probe?.httpGet && ports.has(probe.httpGet.port), `${d.metadata.name}: probe port`);
        for (const mount of c.volumeMounts ?? [])
          assert.ok(
            pod.volumes.some((v: { name: string }) => v.name === mount.name),
            `volume ${mount.name}`,
          );
        const configArg = c.args?.[c.args.indexOf('--config') + 1] ?? '';
        const mount = c.volumeMounts?.find((m) => configArg.startsWith(`${m.mountPath}/`));
        assert.ok(mount, `${d.metadata.name}: --config ${configArg} is on a mounted volume`);
        const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
        const map = named('ConfigMap', volume.configMap.name);
        assert.ok(map, `ConfigMap ${volume.configMap.name}`);
        const item = volume.configMap.items.find(
          (i: { path: string }) => `${mount.mountPath}/${i.path}` === configArg,
        );
        assert.ok(item && map.data?.[item.key] !== undefined, `key for ${configArg}`);
      }
    }
    for (const s of all('Service')) {
      const target = all('Deployment').find((d) => selects(s.spec.selector, podLabels(d)))!;
      const names = containers(target).flatMap((c) => (c.ports ?? []).map((p) => p.name));
      for (const port of s.spec.ports)
        assert.ok(names.includes(port.targetPort), `${s.metadata.name}: ${port.targetPort}`);
    }
  });

  test('the proxy re-resolves the headless worker Service, on the port the workers listen on', () => {
    const config = configOf(named('ConfigMap', 'gatehouse-config')!, 'gatehouse.yaml');
    const headless = named('Service', config.upstream.resolve?.host ?? '');
    assert.ok(headless, `upstream.resolve.host ${config.upstream.resolve?.host} is a Service`);
    assert.equal(headless.spec.clusterIP, 'None', 'headless: one record per pod, no virtual IP');
    const workers = all('Deployment').find((d) => selects(headless.spec.selector, podLabels(d)))!;
    assert.equal(workers.metadata.name, 'gatehouse-app');
    assert.equal(config.upstream.resolve?.port, config.workers.port);
    assert.ok(containers(workers)[0]!.ports!.some((p) => p.containerPort === config.workers.port));
    assert.equal(
      containers(named('Deployment', 'gatehouse-proxy')!)[0]!.ports![0]!.containerPort,
      config.listen.port,
    );
  });

  test('probes hit /healthz (the proxy: through to a worker; its liveness: its own status listener)', () => {
    const [app] = containers(named('Deployment', 'gatehouse-app')!);
    assert.equal(app!.readinessProbe?.httpGet?.path, '/healthz');
    assert.equal(app!.livenessProbe?.httpGet?.path, '/healthz');
    const [proxy] = containers(named('Deployment', 'gatehouse-proxy')!);
    assert.equal(proxy!.readinessProbe?.httpGet?.path, '/healthz');
    assert.deepEqual(proxy!.livenessProbe?.httpGet, { path: '/healthz', port: 'status' });
  });

  test('the status listener is off loopback only with status.token, from a Secret in both roles', () => {
    const map = named('ConfigMap', 'gatehouse-config')!;
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-k8s-'));
    try {
      writeFileSync(join(dir, 'gatehouse.yaml'), map.data?.['gatehouse.yaml'] ?? '');
      // Without the token the file is refused, as `gatehouse check` would.
      assert.throws(() => loadConfig({ file: join(dir, 'gatehouse.yaml'), env: {} }), /status\.token/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const name of ['gatehouse-app', 'gatehouse-proxy']) {
      const [container] = containers(named('Deployment', name)!);
      assert.deepEqual(
        container!.env?.find((e) => e.name === 'GATEHOUSE_STATUS_TOKEN')?.valueFrom,
        { secretKeyRef: { name: 'gatehouse-status', key: 'token' } },
        name,
      );
    }
  });

  test('termination outlasts preStop plus the drain; rollouts and disruptions keep capacity', () => {
    const config = configOf(named('ConfigMap', 'gatehouse-config')!, 'gatehouse.yaml');
    for (const [name, drain] of [
      ['gatehouse-app', config.workers.gracePeriod],
      ['gatehouse-proxy', config.timeouts.shutdown],
    ] as const) {
      const d = named('Deployment', name)!;
      const preStop = Number(containers(d)[0]!.lifecycle?.preStop?.exec?.command[1]) * 1000;
      const grace = d.spec.template.spec.terminationGracePeriodSeconds * 1000;
      assert.ok(grace > preStop + drain, `${name}: ${grace} ms > preStop ${preStop} ms + drain ${drain} ms`);
      assert.deepEqual(d.spec.strategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
    }
    // A worker leaves DNS when it turns terminating; the proxy may hold its address for the
    // record TTL (5 s, CoreDNS's default) plus one re-resolve interval: preStop outlasts both.
    const appPreStop = containers(named('Deployment', 'gatehouse-app')!)[0]!.lifecycle?.preStop?.exec
      ?.command;
    assert.ok(Number(appPreStop?.[1]) * 1000 >= 5_000 + config.upstream.resolve!.interval, 'worker preStop');
    assert.equal(named('PodDisruptionBudget', 'gatehouse-app')!.spec.maxUnavailable, 1);
    assert.equal(named('PodDisruptionBudget', 'gatehouse-proxy')!.spec.minAvailable, 1);
  });
});
