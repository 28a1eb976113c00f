import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { closedPort, servers, startProxyProcess } from '../helpers/proxy.js';
import { type TestCertificates, testCertificates } from './certs.js';

let certs: TestCertificates;
before(async () => {
  certs = await testCertificates();
});
after(() => certs?.remove());

/** The serial number of the certificate a new handshake for `servername` gets. */
function servedSerial(port: number, servername = 'localhost'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, ca: certs.ca.cert }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

describe('the proxy process and its certificates', () => {
  test('SIGHUP: the reloaded config names other files, new handshakes get them', async (t) => {
    const a = await certs.issue('a', ['localhost']);
    const upstream = { servers: servers(await closedPort()) };
    const tls = (pair: { cert: string; key: string }) => ({
      upstream,
      tls: { listen: '127.0.0.1:0', certificates: [{ cert: pair.cert, key: pair.key }] },
    });
    const proxy = await startProxyProcess(t, { config: tls(a) });
    const listening = proxy.logs.find((l) => l.msg === 'listening')!;
    const port = listening.tlsPort as number;
    assert.equal(await servedSerial(port), new X509Certificate(a.pem).serialNumber);

    const b = await certs.issue('b', ['localhost']);
    proxy.writeConfig(tls(b));
    proxy.signal('SIGHUP');
    await proxy.waitForLog((l) => l.msg === 'configuration reloaded', 15_000);
    assert.equal(await servedSerial(port), new X509Certificate(b.pem).serialNumber);
    assert.deepEqual(proxy.crashes(), []);
  });

  test('SIGHUP with tls.acme and tls.http2 changed: a warning names each key, the listener serves on as started', async (t) => {
    const a = await certs.issue('d', ['localhost']);
    const base = {
      upstream: { servers: servers(await closedPort()) },
      tls: { listen: '127.0.0.1:0', certificates: [{ cert: a.cert, key: a.key }] },
    };
    const proxy = await startProxyProcess(t, { config: base });
    const port = proxy.logs.find((l) => l.msg === 'listening')!.tlsPort as number;
    const warnings = () => proxy.logs.filter((l) => typeof l.key === 'string').map((l) => l.msg);

    // An unchanged reload warns about nothing.
    proxy.signal('SIGHUP');
    await proxy.waitForLog((l) => l.msg === 'configuration reloaded', 15_000);
    assert.deepEqual(warnings(), []);

    const acme = {
      email: 'ops@example.test',
      directory: 'https://127.0.0.1:1/dir',
      domains: ['localhost'],
      storage: `${certs.dir}/acme-storage`,
    };
    proxy.writeConfig({ ...base, tls: { ...base.tls, http2: false, acme } });
    const from = proxy.logs.length;
    proxy.signal('SIGHUP');
    await proxy.waitForLog((l) => l.msg === 'configuration reloaded', 15_000, from);
    assert.deepEqual(warnings().sort(), [
      'tls.acme: changed at reload; restart the proxy to apply it',
      'tls.http2: changed at reload; restart the proxy to apply it',
    ]);
    assert.equal(proxy.logs.find((l) => l.key === 'tls.acme')!.level, 40, 'a warning (pino level 40)');
    // Still serving, HTTP/2 still offered: the listener is the one it started with.
    const alpn = await new Promise<string | false>((resolve, reject) => {
      const socket = connect(
        {
          host: '127.0.0.1',
          port,
          servername: 'localhost',
          ca: certs.ca.cert,
          ALPNProtocols: ['h2', 'http/1.1'],
        },
        () => {
          const chosen = socket.alpnProtocol ?? false;
          socket.end();
          resolve(chosen);
        },
      );
      socket.once('error', reject);
    });
    assert.equal(alpn, 'h2');
    assert.deepEqual(proxy.crashes(), []);
  });

  test('a certificate that cannot be read: the proxy exits 1 naming the file, before anything listens', async () => {
    const a = await certs.issue('c', ['localhost']);
    const missing = `${certs.dir}/missing.pem`;
    await assert.rejects(
      startProxyProcess(null, {
        config: {
          upstream: { servers: servers(await closedPort()) },
          tls: { listen: '127.0.0.1:0', certificates: [{ cert: missing, key: a.key }] },
        },
      }),
      (err: Error) => {
        assert.match(err.message, /proxy exited \(code 1/);
        assert.match(err.message, /missing\.pem: cannot read the file \(ENOENT\)/);
        assert.doesNotMatch(err.message, /"msg":"listening"/);
        return true;
      },
    );
  });
});
