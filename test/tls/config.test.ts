import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, type ConfigProblem, loadConfig } from '../../config/index.js';

function writeYaml(t: { after(fn: () => void): void }, text: string): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, text);
  return { dir, file };
}

function problemsOf(file: string): readonly ConfigProblem[] {
  try {
    loadConfig({ file, env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail(`${file} loaded, expected problems`);
}

describe('config: tls', () => {
  test('off in the embedded default', () => {
    assert.equal(loadConfig({ file: null, env: {} }).tls, null);
  });

  test('defaults: TLSv1.2, h2 on, no redirect, no HSTS; certificate paths from the config file folder', (t) => {
    const { dir, file } = writeYaml(
      t,
      'tls:\n  listen: 127.0.0.1:8443\n  certificates:\n    - { cert: certs/a.pem, key: /etc/keys/a-key.pem }\n',
    );
    const tls = loadConfig({ file, env: {} }).tls;
    assert.deepEqual(tls, {
      listen: { host: '127.0.0.1', port: 8443 },
      certificates: [{ cert: join(dir, 'certs/a.pem'), key: '/etc/keys/a-key.pem' }],
      minVersion: 'TLSv1.2',
      http2: true,
      redirectHttp: false,
      hsts: 0,
      acme: null,
    });
  });

  test('every key set: hsts as a duration becomes seconds; acme storage from the config folder', (t) => {
    const { dir, file } = writeYaml(
      t,
      [
        'tls:',
        '  listen: "[::1]:9443"',
        '  min_version: TLSv1.3',
        '  http2: false',
        '  redirect_http: true',
        '  hsts: 365d',
        '  acme: { email: ops@example.com, directory: "https://127.0.0.1:14000/dir", domains: [Example.com, www.example.com], storage: acme }',
      ].join('\n'),
    );
    const tls = loadConfig({ file, env: {} }).tls!;
    assert.deepEqual(tls.listen, { host: '::1', port: 9443 });
    assert.equal(tls.minVersion, 'TLSv1.3');
    assert.equal(tls.http2, false);
    assert.equal(tls.redirectHttp, true);
    assert.equal(tls.hsts, 365 * 86400);
    assert.deepEqual(tls.certificates, []);
    assert.deepEqual(tls.acme, {
      email: 'ops@example.com',
      directory: 'https://127.0.0.1:14000/dir',
      domains: ['example.com', 'www.example.com'],
      storage: join(dir, 'acme'),
    });
  });

  test('a bad section: every problem with its key path, cross-field ones included', (t) => {
    const { file } = writeYaml(
      t,
      [
        'listen: 127.0.0.1:8080',
        'tls:',
        '  listen: 127.0.0.1:8080',
        '  min_version: SSLv3',
        '  hsts: forever',
        '  http2: sometimes',
        '  colour: blue',
        '  certificates: [{ cert: a.pem }]',
      ].join('\n'),
    );
    const problems = problemsOf(file);
    const paths = problems.map((p) => p.path).sort();
    assert.deepEqual(paths, [
      'tls.certificates.0.key',
      'tls.colour',
      'tls.hsts',
      'tls.http2',
      'tls.listen',
      'tls.min_version',
    ]);
    assert.match(problems.find((p) => p.path === 'tls.listen')!.message, /must differ from listen/);
  });

  test('neither certificates nor acme; an ACME domain HTTP-01 cannot validate; tls.listen on status.listen', (t) => {
    const { file: none } = writeYaml(t, 'tls: { listen: 127.0.0.1:8443 }\n');
    const [problem] = problemsOf(none);
    assert.equal(problem?.path, 'tls.certificates');
    assert.match(problem.message, /at least one \{cert, key\} pair, or tls.acme/);

    const { file: bad } = writeYaml(
      t,
      [
        'status: { listen: 127.0.0.1:9000 }',
        'tls:',
        '  listen: 127.0.0.1:9000',
        '  acme: { email: a@b.c, directory: "https://acme.test/dir", domains: ["*.example.com", 10.0.0.1] }',
      ].join('\n'),
    );
    const paths = problemsOf(bad).map((p) => `${p.path}: ${p.message}`);
    assert.equal(paths.length, 3, paths.join('\n'));
    assert.match(paths[0]!, /^tls\.listen: must differ from status\.listen/);
    assert.match(paths[1]!, /^tls\.acme\.domains\.0: expected a DNS name/);
    assert.match(paths[2]!, /^tls\.acme\.domains\.1: expected a DNS name/);
  });
});
