import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import {
  containersServing,
  ensureTestImage,
  freePort,
  get,
  repoRoot,
  run,
  waitFor,
} from '../helpers/docker.js';
import { composeCommand, requires } from '../helpers/system-deps.js';

// End to end against the real engine: docker-compose.yml with the image built from this tree, then
// with its two overrides: docker-compose.two-apps.yml (a second app, routed by host and path) and
// docker-compose.tls.yml (HTTPS with a certificate from the host).

const FILES = ['docker-compose.yml', 'docker-compose.two-apps.yml', 'docker-compose.tls.yml'];
const HELLO = '<h1>Hello World!</h1>';

/** GET over HTTPS trusting only `ca`; the status, the body and the protocol the server chose. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string; tls: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        const tls = (res.socket as TLSSocket).getProtocol() ?? '';
        resolve({ status: res.statusCode ?? 0, body, tls });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

describe('docker compose stack', requires('docker', 'docker compose'), () => {
  const project = `ghcompose${process.pid}`;
  const compose = composeCommand() ?? [];
  let env: NodeJS.ProcessEnv = {};
  let proxyUrl = '';
  let nginxUrl = '';
  let tlsPort = 0;
  // `gatehouse cert --dev` as a user runs it: the key 0600, the runner's, unreadable to uid 10001.
  const certs = mkdtempSync(join(tmpdir(), 'gh-compose-certs-'));
  const dc = (...args: string[]) => run([...compose, '-p', project, '--profile', 'nginx', ...args], { env });
  /** compose over docker-compose.yml and the named overrides, as `-f … -f …`. */
  const withFiles = (files: string[], ...args: string[]) =>
    run([...compose, '-p', project, ...['docker-compose.yml', ...files].flatMap((f) => ['-f', f]), ...args], {
      env,
    });
  const ids = (service: string) => dc('ps', '-q', service).split('\n').filter(Boolean);

  before(async () => {
    const image = await ensureTestImage();
    const [port, nginxPort] = [await freePort(), await freePort()];
    tlsPort = await freePort();
    const made = spawnSync(
      process.execPath,
      [join(repoRoot, 'bin', 'gatehouse.js'), 'cert', '--dev', '--out', certs],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(made.status, 0, made.stderr);
    // The compose files read these; nothing else of the environment changes.
    env = {
      ...process.env,
      GATEHOUSE_IMAGE: image,
      GATEHOUSE_PORT: String(port),
      GATEHOUSE_NGINX_PORT: String(nginxPort),
      GATEHOUSE_TLS_PORT: String(tlsPort),
      GATEHOUSE_TLS_CERT: join(certs, 'localhost.pem'),
      GATEHOUSE_TLS_KEY: join(certs, 'localhost-key.pem'),
    };
    proxyUrl = `http://127.0.0.1:${port}`;
    nginxUrl = `http://127.0.0.1:${nginxPort}`;
  });

  after(() => {
    // Every file, so the services and the volume of the overrides go too.
    if (env.GATEHOUSE_IMAGE)
      run(
        [
          ...compose,
          '-p',
          project,
          ...FILES.flatMap((f) => ['-f', f]),
          '--profile',
          'nginx',
          'down',
          '-v',
          '--remove-orphans',
          '--timeout',
          '20',
        ],
        { env },
      );
    rmSync(certs, { recursive: true, force: true });
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

  test('docker-compose.two-apps.yml adds the hello app: the proxy routes hello.localhost and /hello/ to it, the rest to the site', async (t) => {
    const started = performance.now();
    withFiles(['docker-compose.two-apps.yml'], 'up', '-d');
    const byHost = await waitFor(
      'the hello app by its host name through the proxy',
      async () => {
        const answer = await get(`${proxyUrl}/`, { host: 'hello.localhost' });
        return answer.status === 200 && answer.body === HELLO ? answer : undefined;
      },
      90_000,
      250,
    );
    t.diagnostic(
      `two-apps up -d until hello.localhost answers: ${Math.round(performance.now() - started)} ms`,
    );
    assert.equal(byHost.body, HELLO);
    const byPath = await get(`${proxyUrl}/hello/anything`);
    assert.equal(byPath.status, 200);
    assert.equal(byPath.body, HELLO, '/hello/ on any other host: the hello app');
    const site = await get(`${proxyUrl}/`);
    assert.equal(site.status, 200);
    assert.match(site.headers['content-type'] as string, /^text\/html/);
    assert.notEqual(site.body, HELLO, 'every other host and path: the sample site');
    const hello = withFiles(['docker-compose.two-apps.yml'], 'ps', '-q', 'hello').split('\n').filter(Boolean);
    assert.equal(hello.length, 2, 'the hello service runs its deploy.replicas: 2');
  });

  test('docker-compose.tls.yml serves HTTPS on the published TLS port with the certificate from the host, key 0600 there', async (t) => {
    assert.equal(statSync(env.GATEHOUSE_TLS_KEY!).mode & 0o777, 0o600, 'the key on the host stays 0600');
    const ca = readFileSync(join(certs, 'ca.pem'), 'utf8');
    const started = performance.now();
    withFiles(['docker-compose.tls.yml'], 'up', '-d');
    const answer = await waitFor(
      'an HTTPS answer from the proxy',
      async () => {
        const res = await httpsGet(`https://127.0.0.1:${tlsPort}/`, ca).catch(() => undefined);
        return res?.status === 200 ? res : undefined;
      },
      90_000,
      250,
    );
    t.diagnostic(
      `tls up -d until the first HTTPS 200: ${Math.round(performance.now() - started)} ms (${answer.tls})`,
    );
    assert.match(answer.body, /<html/i, 'the sample site over HTTPS');
    const { headers } = JSON.parse((await httpsGet(`https://127.0.0.1:${tlsPort}/headers`, ca)).body) as {
      headers: Record<string, string>;
    };
    assert.equal(headers['x-forwarded-proto'], 'https');
    // Plain HTTP stays where it was.
    assert.equal((await get(`${proxyUrl}/healthz`)).status, 200);
    // In the volume the key is the image user's alone; the CA's key never left the host.
    const listing = withFiles(['docker-compose.tls.yml'], 'exec', '-T', 'proxy', 'ls', '-ln', '/app/certs');
    assert.match(listing, /^-r-------- +1 10001 10001 .* key\.pem$/m, listing);
    assert.doesNotMatch(listing, /ca/, listing);
  });
});
