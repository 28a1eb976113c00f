import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { fakePath } from '../helpers/fake-path.js';

// `npm test` starts with scripts/preflight.js. Each case runs it with a PATH of stand-ins, so the
// machine's own programs play no part.

const allButNginx = {
  chromium: {},
  pebble: {},
  'pebble-challtestsrv': {},
  logrotate: {},
  docker: {},
  pm2: {},
};
const everything = { nginx: {}, ...allButNginx };

function preflight(programs: Record<string, { code?: number; output?: string }>) {
  const path = fakePath(programs);
  try {
    const started = performance.now();
    const result = spawnSync(process.execPath, [join(packageRoot, 'scripts', 'preflight.js')], {
      encoding: 'utf8',
      env: { PATH: path.dir },
      timeout: 30_000,
    });
    return { ...result, ms: performance.now() - started };
  } finally {
    path.remove();
  }
}

function assertOneBlock(stderr: string) {
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
  const lines = stderr.trim().split('\n');
  assert.match(lines[0]!, /^npm test: this machine lacks/);
  assert.match(lines.at(-1)!, /^Install (it|them all) with \(as root\): npm run setup$/);
  return lines;
}

describe('the preflight of npm test', () => {
  test('without nginx on PATH: exits 1 within seconds, naming nginx and `npm run setup` in one block', () => {
    const { status, stdout, stderr, ms } = preflight(allButNginx);
    assert.equal(status, 1);
    assert.equal(stdout, '');
    const lines = assertOneBlock(stderr);
    assert.equal(lines.length, 3, stderr);
    assert.match(lines[1]!, /^ {2}nginx +not on PATH; needed by real nginx: test\/nginx, test\/conformance/);
    assert.ok(ms < 5000, `took ${Math.round(ms)} ms`);
  });

  test('with nothing on PATH: names every program the tests need, once each, and not the bench-only wrk', () => {
    const { status, stderr } = preflight({});
    assert.equal(status, 1);
    const names = assertOneBlock(stderr)
      .slice(1, -1)
      .map((line) => /^ {2}(\S+(?: compose)?) /.exec(line)?.[1]);
    assert.deepEqual(names, ['nginx', 'chromium', 'pebble', 'logrotate', 'docker', 'docker compose', 'pm2']);
  });

  test('a Docker engine that does not answer is named with what docker said', () => {
    const { status, stderr } = preflight({ ...everything, docker: { code: 1, output: 'Cannot connect' } });
    assert.equal(status, 1);
    assert.match(stderr, /^ {2}docker +the engine does not answer \(Cannot connect\); needed by/m);
  });

  test('with everything there: exits 0 and says nothing', () => {
    const { status, stdout, stderr } = preflight(everything);
    assert.deepEqual({ status, stdout, stderr }, { status: 0, stdout: '', stderr: '' });
  });
});
