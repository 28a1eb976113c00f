import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LogLine } from '../helpers/child.js';
import { freePort } from '../helpers/net.js';
import { makeCa, makeLeaf } from '../helpers/openssl-certs.js';
import { type Pebble, startPebble } from '../helpers/pebble.js';
import { type HeadersEcho, servers, startProxyProcess } from '../helpers/proxy.js';
import { requires } from '../helpers/system-deps.js';
import { waitFor } from '../helpers/wait.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { https1 } from './clients.js';

// A real `gatehouse proxy` with tls.acme against a real ACME server (pebble): the proxy orders,
// pebble validates over HTTP-01 against the proxy's own plain listener, and HTTPS clients get
// the obtained certificate, chained to pebble's issuing root, in front of a real worker.

const DOMAINS = ['shop.gatehouse.example', 'www.gatehouse.example'];

describe('the proxy obtains its certificate from an ACME server', requires('pebble'), () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-acme-proxy-'));
  let pebble: Pebble;
  let worker: WorkerProcess;
  let plainPort: number;

  before(async () => {
    plainPort = await freePort();
    [pebble, worker] = await Promise.all([startPebble({ httpPort: plainPort }), startWorker()]);
  });
  after(async () => {
    await Promise.all([pebble?.stop(), worker?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('two processes, one order: HTTP-01 answered on the plain listener, https served with the certificate, kept across SIGHUP', async (t) => {
    // acme-client reaches pebble's directory over https signed by a test CA: trusted the way a
    // deployment against a private ACME CA does it.
    const ownCa = makeCa(dir, 'gatehouse test CA');
    const own = makeLeaf(dir, 'own', ownCa, ['localhost']);
    const directoryCa = join(dir, 'pebble-directory-ca.pem');
    writeFileSync(directoryCa, pebble.directoryCa);
    const config = {
      listen: `127.0.0.1:${plainPort}`,
      instances: 2,
      upstream: { servers: servers(worker.port) },
      tls: {
        listen: '127.0.0.1:0',
        redirect_http: true,
        // A pair of its own beside ACME's: the default until ACME's arrives, and still served after.
        certificates: [{ cert: own.cert, key: own.key }],
        acme: {
          email: 'ops@gatehouse.example',
          directory: pebble.directory,
          domains: DOMAINS,
          storage: join(dir, 'acme'),
        },
      },
    };
    const proxy = await startProxyProcess(t, {
      config,
      listeners: 2,
      startTimeout: 60_000,
      env: { NODE_EXTRA_CA_CERTS: directoryCa },
    });
    const tlsPort = proxy.logs.find((l) => l.msg === 'listening')!.tlsPort as number;
    const root = await pebble.issuingRoot();

    for (const servername of DOMAINS) {
      // Until the order is done the handshake gets the own pair (not trusted here); then a
      // certificate that verifies against pebble's root for the name asked.
      const served = await waitFor(
        `an https answer for ${servername}`,
        () => https1({ port: tlsPort, ca: root, servername, path: '/headers', timeout: 10_000 }),
        120_000,
        250,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${proxy.describe()}\n${pebble.output()}`);
      });
      assert.equal(served.status, 200);
      const echo = JSON.parse(served.body.toString()) as HeadersEcho;
      assert.equal(echo.worker.port, worker.port, 'answered by the worker');
      assert.equal(echo.headers['x-forwarded-proto'], 'https');
      const certificate = new X509Certificate(served.peer!.raw);
      assert.ok(certificate.checkHost(servername), certificate.subjectAltName);
      assert.match(certificate.issuer, /Pebble/);
    }
    assertOneOrderAtATime(proxy.logs);

    // A config reload (which reads tls.certificates again) does not drop the certificate ACME put
    // in: it is not in the config file.
    const reloaded = proxy.logs.length;
    proxy.signal('SIGHUP');
    await waitFor(
      'both processes reloaded',
      async () => proxy.logs.slice(reloaded).filter((l) => l.msg === 'configuration reloaded').length === 2,
      15_000,
    );
    for (let i = 0; i < 4; i++) {
      // New connections, so both processes are likely asked; each must still serve both pairs.
      const again = await https1({ port: tlsPort, ca: root, servername: DOMAINS[0]!, path: '/healthz' });
      assert.equal(again.status, 200);
      const mine = await https1({ port: tlsPort, ca: readFileSync(ownCa.cert, 'utf8'), path: '/healthz' });
      assert.equal(mine.status, 200);
    }

    // The plain listener redirects, but not the challenge path (404 for a token it never gave).
    const plain = await fetch(`http://127.0.0.1:${plainPort}/.well-known/acme-challenge/unknown-token`);
    assert.equal(plain.status, 404);
    assert.deepEqual(proxy.crashes(), []);
  });
});

const ORDERING = 'acme: ordering a certificate';
const OBTAINED = 'acme: certificate obtained';
const FAILED = 'acme: could not obtain a certificate; retrying';

/**
 * The lock's promise, read from both processes' logs (one stdout, in write order): one certificate
 * obtained, never two orders under way at once, and an order started again only after the one
 * before it failed (an ACME server may fail an order: the failure is logged, the order retried by
 * whichever process takes the lock next). The other process picked the stored files up.
 */
function assertOneOrderAtATime(logs: LogLine[]): void {
  const acmeLines = logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('acme:'));
  const story = acmeLines
    .map((l) => `  instance ${String(l.instance)}: ${l.msg}${l.reason ? ` (${String(l.reason)})` : ''}`)
    .join('\n');
  const why = (what: string) => `${what}; the ACME lines:\n${story}`;
  // Each order's outcome, in order: every one but the last failed, the last obtained the certificate.
  const outcomes: string[] = [];
  let underWay: unknown = null;
  for (const line of acmeLines) {
    if (line.msg === ORDERING) {
      assert.equal(underWay, null, why('an order started while another was under way'));
      underWay = line.instance;
    } else if ((line.msg === OBTAINED || line.msg === FAILED) && line.instance === underWay) {
      outcomes.push(line.msg);
      underWay = null;
    }
  }
  assert.equal(acmeLines.filter((l) => l.msg === OBTAINED).length, 1, why('one certificate obtained'));
  assert.deepEqual(
    outcomes,
    [...outcomes.slice(0, -1).map(() => FAILED), OBTAINED],
    why('orders beyond the first only after a failure'),
  );
  const orderedBy = acmeLines.find((l) => l.msg === OBTAINED)!.instance;
  assert.ok(
    logs.some((l) => l.msg === 'certificates loaded' && l.instance !== orderedBy),
    why('the other process picked the stored files up'),
  );
}
