import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { run } from '../helpers/pm2.js';

/** `npm run fuzz` as the README shows it, with small counts: the CLI itself, not only its parts. */
const cli = join(packageRoot, 'dist', 'test', 'hostile', 'fuzz.js');

describe('npm run fuzz', () => {
  test('--n 200 --seed 3: runs the inputs against a proxy of its own, prints the outcomes and no failure, exit 0', async () => {
    const result = await run(
      process.execPath,
      [cli, '--n', '200', '--seed', '3', '--concurrency', '20', '--minutes', '2'],
      {
        timeout: 150_000,
      },
    );
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /^seed 3: 200 inputs in [\d.]+ s$/m);
    assert.match(result.stdout, /answers by status: .*400×\d+/);
    assert.match(result.stdout, /^failures: 0$/m);
  });

  test('--slow 20 --seconds 1: prints the normal client p50/p99 alone and with the attackers, their ratio and RSS', async () => {
    const result = await run(process.execPath, [cli, '--slow', '20', '--seconds', '1'], { timeout: 150_000 });
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /p99 ratio: [\d.]+×/);
    assert.match(result.stdout, /proxy RSS: before [\d.]+ MiB, during [\d.]+ MiB, after [\d.]+ MiB/);
  });

  test('an unknown option: exit 2 with the usage; --help: the usage, exit 0', async () => {
    const bad = await run(process.execPath, [cli, '--bogus']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Unknown option '--bogus'/);
    assert.match(bad.stderr, /^usage: npm run fuzz/m);
    const help = await run(process.execPath, [cli, '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--slow N/);
  });
});
