import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { type ConfigDoc, packageRoot } from '../../config/index.js';
import { servers, startProxy } from '../helpers/proxy.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { h2, https1 } from './clients.js';

function certDev(out: string) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return spawnSync(
    process.execPath,
    [join(packageRoot, 'bin', 'gatehouse.js'), 'cert', '--dev', '--out', out],
    {
      env,
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
}

/** The `tls:` block the command printed, as a config document. */
function printedTls(stdout: string): ConfigDoc {
  const start = stdout.indexOf('tls:\n');
  const end = stdout.indexOf('\n\n', start);
  assert.ok(start >= 0 && end > start, stdout);
  return parse(stdout.slice(start, end)) as ConfigDoc;
}

let worker: WorkerProcess;
let out: string;
before(async () => {
  worker = await startWorker();
  out = mkdtempSync(join(tmpdir(), 'gatehouse-devcert-'));
});
after(async () => {
  await worker?.stop();
  rmSync(out, { recursive: true, force: true });
});

describe('gatehouse cert --dev', () => {
  test('makes a CA and a localhost certificate (keys 0600); the printed lines serve https://localhost over h1 and h2', async (t) => {
    const run = certDev(out);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Made a local CA/);
    assert.match(run.stdout, /NODE_EXTRA_CA_CERTS=/);
    assert.match(run.stdout, /update-ca-certificates/);
    for (const key of ['ca-key.pem', 'localhost-key.pem'])
      assert.equal(statSync(join(out, key)).mode & 0o777, 0o600, key);
    const tls = printedTls(run.stdout).tls as ConfigDoc;
    assert.equal(tls.listen, '127.0.0.1:8443');
    const ca = readFileSync(join(out, 'ca.pem'), 'utf8');

    // The printed lines as they are, but for a free port.
    const proxy = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      tls: { ...tls, listen: '127.0.0.1:0' },
    });
    const port = proxy.server.tlsAddress!.port;
    const one = await https1({ port, ca, path: '/' });
    assert.equal(one.status, 200, one.body.toString());
    assert.match(one.body.toString(), /<html/i);
    const two = await h2({ port, ca, path: '/' });
    assert.deepEqual([two.status, two.alpn], [200, 'h2']);
    // 127.0.0.1 is in the certificate too (no SNI is sent for an address).
    assert.equal((await https1({ port, ca, path: '/healthz', servername: '' })).status, 200);

    // Again: the same CA (trusted once) signs a new certificate.
    const again = certDev(out);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /Reused the local CA/);
    assert.equal(readFileSync(join(out, 'ca.pem'), 'utf8'), ca);
    proxy.server.reloadCertificates();
    assert.equal((await https1({ port, ca, path: '/healthz' })).status, 200);
  });
});
