import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TlsConfig } from '../../config/index.js';
import { restartWarning, tlsChangesNeedingRestart } from '../../proxy/tls/restart-only.js';

const tls: TlsConfig = {
  listen: { host: '127.0.0.1', port: 8443 },
  certificates: [{ cert: '/srv/a.pem', key: '/srv/a.key' }],
  minVersion: 'TLSv1.2',
  http2: true,
  redirectHttp: false,
  hsts: 0,
  acme: null,
};
const acme = {
  email: 'ops@example.test',
  directory: 'https://acme.test/dir',
  domains: ['a.test'],
  storage: '/srv/acme',
};

describe('tls keys a reload cannot apply', () => {
  test('what a reload applies (certificates, min_version, redirect_http, hsts) is not named', () => {
    const next: TlsConfig = {
      ...tls,
      certificates: [{ cert: '/srv/b.pem', key: '/srv/b.key' }],
      minVersion: 'TLSv1.3',
      redirectHttp: true,
      hsts: 600,
    };
    assert.deepEqual(tlsChangesNeedingRestart(tls, next), []);
    assert.deepEqual(tlsChangesNeedingRestart(null, null), []);
  });

  test('listen, http2 and acme are named, each once; acme compared by value', () => {
    assert.deepEqual(
      tlsChangesNeedingRestart(tls, { ...tls, listen: { host: '0.0.0.0', port: 8443 }, http2: false, acme }),
      ['tls.listen', 'tls.http2', 'tls.acme'],
    );
    const withAcme = { ...tls, acme };
    assert.deepEqual(
      tlsChangesNeedingRestart(withAcme, { ...tls, acme: { ...acme, domains: ['a.test'] } }),
      [],
    );
    assert.deepEqual(tlsChangesNeedingRestart(withAcme, { ...tls, acme: { ...acme, domains: ['b.test'] } }), [
      'tls.acme',
    ]);
  });

  test('turning tls on or off is named as tls', () => {
    assert.deepEqual(tlsChangesNeedingRestart(null, tls), ['tls']);
    assert.deepEqual(tlsChangesNeedingRestart(tls, null), ['tls']);
    assert.equal(restartWarning('tls.acme'), 'tls.acme: changed at reload; restart the proxy to apply it');
  });
});
