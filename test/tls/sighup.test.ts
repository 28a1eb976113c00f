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
