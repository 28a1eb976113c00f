import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { containersServing, ensureTestImage, freePort, get, run, waitFor } from '../helpers/docker.js';
import { composeCommand, requires } from '../helpers/system-deps.js';

// End to end against the real engine: docker-compose.yml with the image built from this tree.

describe('docker compose stack', requires('docker', 'docker compose'), () => {
  const project = `ghcompose${process.pid}`;
  const compose = composeCommand() ?? [];
  let env: NodeJS.ProcessEnv = {};
  let proxyUrl = '';
  let nginxUrl = '';
  const dc = (...args: string[]) => run([...compose, '-p', project, '--profile', 'nginx', ...args], { env });
  const ids = (service: string) => dc('ps', '-q', service).split('\n').filter(Boolean);

  before(async () => {
    const image = await ensureTestImage();
    const [port, nginxPort] = [await freePort(), await freePort()];
    // The compose file reads these; nothing else of the environment changes.
    env = {
      ...process.env,
      GATEHOUSE_IMAGE: image,
      GATEHOUSE_PORT: String(port),
      GATEHOUSE_NGINX_PORT: String(nginxPort),
    };
    proxyUrl = `http://127.0.0.1:${port}`;
    nginxUrl = `http://127.0.0.1:${nginxPort}`;
  });

  after(() => {
    if (env.GATEHOUSE_IMAGE) dc('down', '-v', '--remove-orphans', '--timeout', '20');
  });

  test('up -d serves the sample site through the proxy over two app replicas', async (t) => {
    const started = performance.now();
    run([...compose, '-p', project, 'up', '-d'], { env });
    await waitFor(
      'the first 200 through the proxy',
      async () => ((await get(`${proxyUrl}/`)).status === 200 ? true : undefined),
      90_000,
      100,
    );
    t.diagnostic(
      `compose cold start (up -d until the first 200 through the proxy): ${Math.round(performance.now() - started)} ms`,
    );

    const home = await get(`${proxyUrl}/`);
    assert.match(home.headers['content-type'] as string, /^text\/html/);
    const headers = JSON.parse((await get(`${proxyUrl}/headers`)).body) as {
      headers: Record<string, string>;
    };
    assert.equal(headers.headers.host, proxyUrl.replace('http://', ''), 'the client Host reaches the worker');
    assert.ok(headers.headers['x-forwarded-for'], 'the proxy added X-Forwarded-For');

    const apps = ids('app');
    assert.equal(apps.length, 2, 'deploy.replicas: 2');
    const serving = await containersServing(`${proxyUrl}/headers`, apps);
    assert.equal(serving.size, 2, 'both replicas answered');
    assert.deepEqual(ids('nginx'), [], 'nginx stays out unless its profile is asked for');
  });

  test('--scale app=4 is picked up by the running proxy, which is not restarted', async () => {
    const [proxy] = ids('proxy');
    const startedAt = run(['docker', 'inspect', '-f', '{{.State.StartedAt}}', proxy!]).trim();
    run([...compose, '-p', project, 'up', '-d', '--scale', 'app=4'], { env });
    const apps = ids('app');
    assert.equal(apps.length, 4);
    // New replicas join once the proxy re-resolves `app` (every 2 s) and they answer.
    const serving = await waitFor(
      'all four replicas to serve through the proxy',
      async () => {
        const seen = await containersServing(`${proxyUrl}/headers`, apps, 40);
        return seen.size === 4 ? seen : undefined;
      },
      60_000,
      1_000,
    );
    assert.equal(serving.size, 4);
    assert.deepEqual(ids('proxy'), [proxy], 'same proxy container');
    assert.equal(
      run(['docker', 'inspect', '-f', '{{.State.StartedAt}}', proxy!]).trim(),
      startedAt,
      'proxy not restarted',
    );
  });

  test('the nginx profile puts real nginx in front of the same replicas', async () => {
    run([...compose, '-p', project, '--profile', 'nginx', 'up', '-d', '--scale', 'app=4', 'nginx'], { env });
    await waitFor(
      'nginx to answer',
      async () => ((await get(`${nginxUrl}/healthz`)).status === 200 ? true : undefined),
      60_000,
    );
    const home = await get(`${nginxUrl}/`);
    assert.equal(home.status, 200);
    assert.match(home.headers['content-type'] as string, /^text\/html/);
    const { headers } = JSON.parse((await get(`${nginxUrl}/headers`)).body) as {
      headers: Record<string, string>;
    };
    assert.equal(headers.host, nginxUrl.replace('http://', ''));
    assert.ok(headers['x-real-ip'], 'nginx set X-Real-IP');
    const serving = await containersServing(`${nginxUrl}/headers`, ids('app'), 40);
    assert.ok(serving.size >= 2, `nginx balanced over ${serving.size} replicas`);
  });
});
