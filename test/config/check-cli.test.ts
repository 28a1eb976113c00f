import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';

const bin = join(packageRoot, 'bin', 'gatehouse.js');

function check(args: string[], env: Record<string, string> = {}) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!('GATEHOUSE_CONFIG' in env)) delete childEnv.GATEHOUSE_CONFIG;
  delete childEnv.NODE_OPTIONS;
  const result = spawnSync(process.execPath, [bin, 'check', ...args], {
    cwd: packageRoot,
    env: childEnv,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function writeYaml(t: { after(fn: () => void): void }, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, text);
  return file;
}

describe('gatehouse check', () => {
  test('a bad file: exit 1, every problem printed with the file and its key path', (t) => {
    const file = writeYaml(
      t,
      [
        'colour: blue',
        'upstream: { balance: fastest, keepalive_timeout: 90s }',
        'timeouts: { read: soon }',
        'trusted_proxies: [300.0.0.0/8]',
        'workers: { keepalive_timeout: 30s }',
      ].join('\n'),
    );
    const { code, stdout, stderr } = check(['--config', file]);
    assert.equal(code, 1, `stdout: ${stdout}\nstderr: ${stderr}`);
    assert.doesNotMatch(stdout, /\bok\b/);
    const output = stdout + stderr;
    assert.match(output, new RegExp(`${file}: 5 problems`));
    for (const path of [
      'colour',
      'upstream.balance',
      'timeouts.read',
      'trusted_proxies.0',
      'workers.keepalive_timeout',
    ]) {
      assert.ok(output.includes(`${file}: ${path}: `), `${path} missing from:\n${output}`);
    }
  });

  test('a good file: exit 0 and "ok" with the file name', (t) => {
    const file = writeYaml(
      t,
      'listen: 127.0.0.1:9090\nupstream: { servers: [{ address: "127.0.0.1:9101" }] }\n',
    );
    const { code, stdout, stderr } = check(['--config', file]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(`^${file}: ok$`, 'm'));
    assert.match(stdout, /listen 127\.0\.0\.1:9090/);
    assert.match(stdout, /127\.0\.0\.1:9101/);
  });

  test('no file: the embedded default is ok', () => {
    const { code, stdout } = check([]);
    assert.equal(code, 0);
    assert.match(stdout, /^default config: ok$/m);
  });

  test('GATEHOUSE_CONFIG names the file when --config is not given', (t) => {
    const file = writeYaml(t, 'upstream: { balance: nope }\n');
    const { code, stderr } = check([], { GATEHOUSE_CONFIG: file });
    assert.equal(code, 1);
    assert.ok(stderr.includes(`${file}: upstream.balance: `), stderr);
  });

  test('a missing file: exit 1 naming it', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const missing = join(dir, 'missing.yaml');
    const { code, stderr } = check(['--config', missing]);
    assert.equal(code, 1);
    assert.ok(stderr.includes(missing));
    assert.match(stderr, /ENOENT/);
  });
});
