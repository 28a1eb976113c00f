import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { fakePath } from '../helpers/fake-path.js';
import { underCi } from '../helpers/system-deps.js';

// requires(): a test that needs a missing program is skipped with the reason, and under CI it fails.

/** Runs the fixture test file (one test that requires nginx) with a PATH that has no nginx. */
function runFixture(env: Record<string, string>) {
  const path = fakePath({});
  try {
    return spawnSync(
      process.execPath,
      ['--test', '--test-reporter=tap', join(packageRoot, 'dist', 'test', 'fixtures', 'needs-nginx.js')],
      { encoding: 'utf8', env: { PATH: path.dir, ...env }, timeout: 30_000 },
    );
  } finally {
    path.remove();
  }
}

describe('requires()', () => {
  test('skips a test whose program is missing, with the reason and the setup command', () => {
    const { status, stdout } = runFixture({});
    assert.equal(status, 0, stdout);
    assert.match(stdout, /# SKIP nginx: not on PATH \(npm run setup installs it\)/);
    assert.match(stdout, /^# fail 0$/m);
  });

  test('under CI=true fails instead, naming the program, without a stack trace', () => {
    const { status, stdout } = runFixture({ CI: 'true' });
    assert.equal(status, 1, stdout);
    assert.match(
      stdout,
      /^not ok 1 - nginx installed \(under CI a missing program fails, it is not skipped\)$/m,
    );
    assert.match(stdout, /nginx: not on PATH \(npm run setup installs it\)/);
    assert.doesNotMatch(stdout, /^\s+at /m);
    assert.match(stdout, /^# fail 1$/m);
  });

  test('CI counts as set for any value but empty, false or 0', () => {
    assert.deepEqual(
      ['true', '1', 'yes', '', 'false', 'FALSE', '0', undefined].map((CI) => underCi({ CI })),
      [true, true, true, false, false, false, false, false],
    );
  });
});
