import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { type InProcessProxy, servers, startProxy } from '../helpers/proxy.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { type TestCertificates, testCertificates } from './certs.js';
import { h2, h2session, https1 } from './clients.js';

let certs: TestCertificates;
let worker: WorkerProcess;
before(async () => {
  certs = await testCertificates();
  worker = await startWorker();
});
after(async () => {
  await worker?.stop();
  certs?.remove();
});

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

describe('certificates swapped without a restart', () => {
  let proxy: InProcessProxy;
  let port: number;
  let first: { cert: string; key: string; pem: string };
  before(async () => {
    first = await certs.issue('site', ['localhost', '127.0.0.1']);
    proxy = await startProxy(null, {
      upstream: { servers: servers(worker.port) },
      tls: { listen: '127.0.0.1:0', certificates: [{ cert: first.cert, key: first.key }] },
    });
    port = proxy.server.tlsAddress!.port;
  });
  after(() => proxy?.close());

  test('a changed file: new handshakes get the new certificate, open h2 and keep-alive connections keep working; a bad file keeps it', async () => {
    const ca = certs.ca.cert;
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
    const session = await h2session(port, ca);
    try {
      const before1 = await https1({ port, ca, path: '/healthz', agent });
      const before2 = await h2({ port, ca, session, path: '/healthz' });
      assert.equal(before1.peer?.serialNumber, serialOf(first.pem));
      assert.equal(before2.peer?.serialNumber, serialOf(first.pem));

      // Replaced in place, as a renewal does: the folder watch picks it up.
      const loaded = proxy.logs.length;
      const second = await certs.issue('site', ['localhost', '127.0.0.1']);
      await proxy.waitForLog(
        (l) => l.msg === 'certificates loaded' && proxy.logs.indexOf(l) >= loaded,
        15_000,
      );
      const fresh = await https1({ port, ca, path: '/healthz' });
      assert.equal(
        fresh.peer?.serialNumber,
        serialOf(second.pem),
        'a new handshake gets the new certificate',
      );
      assert.equal((await h2({ port, ca, path: '/healthz' })).peer?.serialNumber, serialOf(second.pem));

      // The connections opened before the swap still carry requests (and keep their handshake).
      const after1 = await https1({ port, ca, path: '/headers', agent });
      assert.equal(after1.status, 200);
      assert.equal(
        after1.peer?.serialNumber,
        serialOf(first.pem),
        'the keep-alive connection is the old one',
      );
      const after2 = await h2({ port, ca, session, path: '/headers' });
      assert.equal(after2.status, 200);
      assert.equal(after2.peer?.serialNumber, serialOf(first.pem), 'the h2 session is the old one');

      // A broken file: logged with its path and reason, the certificate in service stays.
      const failedAt = proxy.logs.length;
      writeFileSync(first.cert, '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n');
      const error = await proxy.waitForLog(
        (l) =>
          l.msg === 'certificate not reloaded; keeping the one in service' &&
          proxy.logs.indexOf(l) >= failedAt,
        15_000,
      );
      assert.equal(error.file, first.cert);
      assert.match(String(error.reason), /not a PEM certificate/);
      assert.equal((await https1({ port, ca, path: '/healthz' })).peer?.serialNumber, serialOf(second.pem));
      assert.equal((await h2({ port, ca, session, path: '/healthz' })).status, 200);

      // SIGHUP's path (a config reload): the files are read again, the fixed pair goes in.
      const third = await certs.issue('site', ['localhost', '127.0.0.1']);
      proxy.server.reload(proxy.config);
      assert.equal((await https1({ port, ca, path: '/healthz' })).peer?.serialNumber, serialOf(third.pem));
      assert.deepEqual(proxy.crashes(), []);
    } finally {
      agent.destroy();
      session.close();
    }
  });

  test('ACME hands over a pair at run time: it serves its names, the default stays', async () => {
    const ca = certs.ca.cert;
    const acme = await certs.issue('acme', ['acme.test']);
    proxy.server.tls!.putCertificate({ cert: acme.cert, key: acme.key });
    const res = await https1({ port, ca, servername: 'acme.test', path: '/healthz' });
    assert.equal(res.peer?.serialNumber, serialOf(acme.pem));
    const other = await https1({ port, ca, path: '/healthz' });
    assert.equal(other.peer?.subjectaltname, 'DNS:localhost, IP Address:127.0.0.1');
  });
});

describe('tls.acme before its first certificate', () => {
  test('the listener starts without a pair, refuses handshakes cleanly, and serves once ACME puts one', async (t) => {
    const proxy = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      tls: {
        listen: '127.0.0.1:0',
        acme: { email: 'ops@example.com', directory: 'https://127.0.0.1:1/dir', domains: ['localhost'] },
      },
    });
    const port = proxy.server.tlsAddress!.port;
    const ca = certs.ca.cert;
    await assert.rejects(https1({ port, ca, path: '/healthz' }));
    await assert.rejects(https1({ port, ca, path: '/healthz', servername: '' }));
    const obtained = await certs.issue('obtained', ['localhost']);
    proxy.server.tls!.putCertificate({ cert: obtained.cert, key: obtained.key });
    const res = await https1({ port, ca, path: '/healthz' });
    assert.deepEqual([res.status, res.peer?.serialNumber], [200, serialOf(obtained.pem)]);
    assert.deepEqual(proxy.crashes(), []);
  });
});
