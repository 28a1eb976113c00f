import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import {
  CertificateError,
  certificateReports,
  daysLeft,
  readCertificate,
} from '../../proxy/tls/certificates.js';
import { CertificateTable } from '../../proxy/tls/sni.js';
import { type TestCertificates, testCertificates } from './certs.js';

const DAY = 86_400_000;
let certs: TestCertificates;
before(async () => {
  certs = await testCertificates();
});
after(() => certs.remove());

describe('certificate pairs', () => {
  test('a pair is read with its names (DNS and IP SANs) and its end date', async () => {
    const notAfter = new Date(Math.floor((Date.now() + 30 * DAY) / 1000) * 1000);
    const pair = await certs.issue('local', ['localhost', '127.0.0.1', '::1'], { notAfter });
    const loaded = readCertificate(pair);
    assert.deepEqual(loaded.names, ['localhost', '127.0.0.1', '::1']);
    assert.equal(loaded.notAfter.getTime(), notAfter.getTime());
    assert.equal(daysLeft(loaded), 29);
  });

  test('unreadable files, a key of another certificate, a file that is not PEM: the file and why', async () => {
    const a = await certs.issue('a', ['a.test']);
    const b = await certs.issue('b', ['b.test']);
    const missing = { cert: join(certs.dir, 'nope.pem'), key: a.key };
    assert.throws(
      () => readCertificate(missing),
      (err: unknown) =>
        err instanceof CertificateError &&
        err.file === missing.cert &&
        /cannot read the file \(ENOENT\)/.test(err.message),
    );
    assert.throws(
      () => readCertificate({ cert: a.cert, key: b.key }),
      (err: unknown) =>
        err instanceof CertificateError && err.file === b.key && /does not match/.test(err.reason),
    );
    const junk = join(certs.dir, 'junk.pem');
    writeFileSync(junk, 'not a certificate\n');
    assert.throws(
      () => readCertificate({ cert: junk, key: a.key }),
      (err: unknown) =>
        err instanceof CertificateError && err.file === junk && /not a PEM certificate/.test(err.reason),
    );
    if (process.getuid?.() !== 0) {
      chmodSync(a.key, 0o000);
      assert.throws(() => readCertificate(a), /cannot read the file \(EACCES\)/);
      chmodSync(a.key, 0o600);
    }
  });

  test('reports: expired is an error, within 14 days a warning, later neither', async () => {
    const expired = await certs.issue('expired', ['old.test'], {
      notBefore: new Date(Date.now() - 40 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const soon = await certs.issue('soon', ['soon.test'], { days: 5 });
    const fine = await certs.issue('fine', ['fine.test'], { days: 90 });
    const [r1, r2, r3] = certificateReports([expired, soon, fine]);
    assert.match(r1!.errors.join(), /expired on/);
    assert.deepEqual(r1!.warnings, []);
    assert.deepEqual(r2!.errors, []);
    assert.match(r2!.warnings.join(), /expires in 4 days/);
    assert.deepEqual([r3!.errors, r3!.warnings], [[], []]);
    assert.deepEqual(r3!.names, ['fine.test']);
  });
});

describe('SNI: the most specific certificate', () => {
  test('exact beats wildcard, a wildcard covers one label, the first pair is the default', async () => {
    const first = readCertificate(await certs.issue('first', ['default.test']));
    const wild = readCertificate(await certs.issue('wild', ['*.example.test']));
    const exact = readCertificate(await certs.issue('exact', ['api.example.test']));
    const table = new CertificateTable([first, wild, exact]);
    assert.equal(table.pick('api.example.test'), exact);
    assert.equal(table.pick('API.Example.Test.'), exact);
    assert.equal(table.pick('www.example.test'), wild);
    assert.equal(table.pick('a.b.example.test'), first, 'a wildcard covers one label only');
    assert.equal(table.pick('example.test'), first);
    assert.equal(table.pick(undefined), first);
    assert.equal(table.pick('default.test'), first);
  });
});

describe('gatehouse check with tls', () => {
  test('lists each pair with its names; an expired pair fails the check, an expiring one warns', async (t) => {
    const good = await certs.issue('good', ['good.test', '*.good.test'], { days: 10 });
    const expired = await certs.issue('gone', ['gone.test'], {
      notBefore: new Date(Date.now() - 40 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const run = (pairs: { cert: string; key: string }[]) => {
      const file = join(certs.dir, `check-${pairs.length}.yaml`);
      const list = pairs.map((p) => `    - { cert: ${p.cert}, key: ${p.key} }`).join('\n');
      writeFileSync(file, `tls:\n  listen: 127.0.0.1:8443\n  certificates:\n${list}\n`);
      const env = { ...process.env };
      delete env.GATEHOUSE_CONFIG;
      delete env.NODE_OPTIONS;
      return spawnSync(
        process.execPath,
        [join(packageRoot, 'bin', 'gatehouse.js'), 'check', '--config', file],
        {
          env,
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
    };
    const ok = run([good]);
    t.diagnostic(ok.stdout + ok.stderr);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`certificate ${good.cert}: good.test, \\*.good.test until`));
    assert.match(ok.stderr, /warning: .*expires in 9 days/);
    const bad = run([good, expired, { cert: join(certs.dir, 'missing.pem'), key: good.key }]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /error: .*gone\.pem: expired on/);
    assert.match(bad.stderr, /error: .*missing\.pem: cannot read the file \(ENOENT\)/);
  });
});
