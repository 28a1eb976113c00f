import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../config/index.js';
import { poolSourceKind } from '../../proxy/sources/index.js';
import { testDoc } from '../helpers/proxy.js';

const underEcosystem = { GATEHOUSE_PM2_WORKERS: 'gatehouse-worker' };
const config = (doc: Record<string, unknown>) => parseConfig(testDoc(doc), null);

describe('poolSourceKind', () => {
  test('the default pool (one server per worker) follows pm2 when the ecosystem says which app', () => {
    assert.equal(poolSourceKind(config({}), underEcosystem), 'pm2');
    assert.equal(poolSourceKind(config({}), {}), 'static');
  });

  test('servers, resolve or docker of the config’s own win over pm2', () => {
    const servers = config({ upstream: { servers: [{ address: '127.0.0.1:9000' }] } });
    assert.equal(poolSourceKind(servers, underEcosystem), 'static');
    assert.equal(
      poolSourceKind(config({ upstream: { resolve: { host: 'app', port: 3000 } } }), underEcosystem),
      'dns',
    );
    assert.equal(
      poolSourceKind(config({ upstream: { docker: { stack: 'shop' } } }), underEcosystem),
      'docker',
    );
  });
});
