#!/usr/bin/env node
// Runs the compiled test files with Node's built-in runner. Node 20 takes no globs on the
// command line, so the files are listed here. Arguments narrow the run:
//   node scripts/test.js proxy conformance   → only test files whose path contains one of them.
// GATEHOUSE_TEST_SKIP leaves out folders or single files of test/, comma-separated (CI's second
// Node pass): GATEHOUSE_TEST_SKIP=pm2,docker/image.test.ts leaves out test/pm2/ and that file.
// GATEHOUSE_TEST_CONCURRENCY: test files run at once in the main lane (default 2).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/** The test files that drive the Docker engine (see the lanes below). */
const ENGINE_FILES = new Set([
  'docker/image.test.js',
  'docker/compose.test.js',
  'docker/deploy-engine.test.js',
  'docker/swarm.test.js',
]);

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'dist', 'test');
const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.js') ? [join(dir, e.name)] : [],
  );
}

const skip = (process.env.GATEHOUSE_TEST_SKIP ?? '')
  .split(',')
  .map((entry) => entry.trim().replace(/\/$/, ''))
  .filter(Boolean);
/** Whether `file` (relative to dist/test) is `entry` (a source path, .ts) or under that folder. */
const isUnder = (file, entry) => file === entry.replace(/\.ts$/, '.js') || file.startsWith(`${entry}/`);
const all = walk(root).map((f) => relative(root, f));
// A stale entry (a renamed file) would quietly leave nothing out: say so and stop.
const stale = skip.filter((entry) => !all.some((f) => isUnder(f, entry)));
if (stale.length > 0) {
  console.error(`GATEHOUSE_TEST_SKIP: no test file is or is under ${stale.join(', ')}`);
  process.exit(1);
}
const chosen = all
  .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
  .filter((f) => !skip.some((entry) => isUnder(f, entry)))
  .sort();
if (skip.length > 0) console.log(`# left out by GATEHOUSE_TEST_SKIP: ${skip.join(', ')}`);
if (chosen.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// Files run CONCURRENCY at a time, each in a process of its own: most of a test's time is spent
// waiting (for processes to start, timers, pm2), so two files at once on two cores take little
// more than one.
const concurrency = Number(process.env.GATEHOUSE_TEST_CONCURRENCY ?? 2);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(
    `GATEHOUSE_TEST_CONCURRENCY: expected a whole number from 1, got ${process.env.GATEHOUSE_TEST_CONCURRENCY}`,
  );
  process.exit(1);
}

// The files that drive the Docker engine run one at a time in a lane of their own, beside the
// others: they wait on the engine (builds, container starts, Swarm's rollouts) more than on this
// machine's cores, and one engine cannot serve two of them at once (one swarm mode, one set of
// test image tags; test/helpers/exclusive.ts holds it for whichever file runs, also against
// another run on the same machine). Their report is printed when the main lane is done, then one
// summary of both.
// On CI's first pass the Docker files take 11-12 minutes (their image builds vary the most) against
// the main lane's 12-13 at three files at a time, so the pm2 command matrix (about 100-150 s)
// follows them in this lane, and both lanes end at about the same time; it waits on pm2 and its
// load more than it computes. (`gatehouse up` followed too while it took 130 s; at 25 s now, the
// engine lane was the longer one with it: 841 s against 739.)
const AFTER_ENGINE = ['pm2/commands.test.js'];
const engineFiles = chosen.filter((f) => ENGINE_FILES.has(f));
const followers = engineFiles.length > 0 ? chosen.filter((f) => AFTER_ENGINE.includes(f)) : [];
const files = byLength(chosen.filter((f) => !ENGINE_FILES.has(f) && !followers.includes(f)));
const ownReporters = flags.some((f) => f.startsWith('--test-reporter'));
const work = mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
const shown = process.stdout.isTTY ? 'spec' : 'tap';
const laneNames = [];
const lanes = [];
if (files.length > 0) {
  laneNames.push('main');
  lanes.push(runLane('main', files, concurrency, 'inherit'));
}
if (engineFiles.length > 0) {
  laneNames.push('docker');
  lanes.push(
    runLane(
      'docker',
      [...engineFiles, ...followers],
      1,
      files.length > 0 ? join(work, 'docker.out') : 'inherit',
    ),
  );
}
const codes = await Promise.all(lanes);
if (engineFiles.length > 0 && files.length > 0) {
  console.log(
    `\n# the Docker engine lane (${[...engineFiles, ...followers].join(', ')}), run beside the others:`,
  );
  process.stdout.write(readFileSync(join(work, 'docker.out')));
}
if (!ownReporters && lanes.length > 1) printSummary(laneNames.map((lane) => join(work, `${lane}.tap`)));
rmSync(work, { recursive: true, force: true });
process.exit(codes.every((code) => code === 0) ? 0 : 1);

/** One `node --test` run; resolves with its exit code. `output`: 'inherit' or a file for its report. */
function runLane(name, list, laneConcurrency, output) {
  const toFile = output !== 'inherit';
  const reporters = ownReporters
    ? []
    : [
        `--test-reporter=${shown}`,
        `--test-reporter-destination=${toFile ? output : 'stdout'}`,
        '--test-reporter=tap',
        `--test-reporter-destination=${join(work, `${name}.tap`)}`,
      ];
  const child = spawn(
    process.execPath,
    [
      '--test',
      `--test-concurrency=${laneConcurrency}`,
      ...reporters,
      ...flags,
      ...list.map((f) => join(root, f)),
    ],
    { stdio: toFile && !ownReporters ? ['ignore', 'ignore', 'inherit'] : 'inherit' },
  );
  return new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
}

/** The counts of both lanes, summed, in the runner's own summary lines (the last ones printed). */
function printSummary(tapFiles) {
  const keys = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];
  const total = Object.fromEntries(keys.map((k) => [k, 0]));
  for (const file of tapFiles) {
    const text = readFileSync(file, 'utf8');
    for (const key of keys) {
      const found = [...text.matchAll(new RegExp(`^# ${key} (\\d+)$`, 'gm'))].at(-1);
      if (found) total[key] += Number(found[1]);
    }
  }
  console.log('\n# both lanes together:');
  for (const key of keys) console.log(`# ${key} ${total[key]}`);
}

/**
 * The order files start in: the long end-to-end folders first, so the run does not end with one
 * long file alone.
 */
function byLength(list) {
  const long = ['pm2/', 'frameworks/', 'buffering/', 'status/browser', 'conformance/'];
  const weight = (f) => {
    const i = long.findIndex((prefix) => f.startsWith(prefix));
    return i === -1 ? long.length : i;
  };
  return [...list].sort((a, b) => weight(a) - weight(b) || a.localeCompare(b));
}
