#!/usr/bin/env node
// Runs the compiled test files with Node's built-in runner. Node 20 takes no globs on the
// command line, so the files are listed here. Arguments narrow the run:
//   node scripts/test.js proxy conformance   → only test files whose path contains one of them.
// GATEHOUSE_TEST_SKIP leaves out folders or single files of test/, comma-separated (CI's second
// Node pass): GATEHOUSE_TEST_SKIP=pm2,docker/image.test.ts leaves out test/pm2/ and that file.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

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
const files = runOrder(chosen).map((f) => join(root, f));
if (skip.length > 0) console.log(`# left out by GATEHOUSE_TEST_SKIP: ${skip.join(', ')}`);
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// Files run CONCURRENCY at a time, each in a process of its own: most of a test's time is spent
// waiting (for processes to start, timers, pm2, the Docker engine), so two files at once on two
// cores take little more than one. A resource only one file may use at a time (the Docker engine)
// is taken with test/helpers/exclusive.ts. GATEHOUSE_TEST_CONCURRENCY=1 runs them one by one.
const concurrency = Number(process.env.GATEHOUSE_TEST_CONCURRENCY ?? 2);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(
    `GATEHOUSE_TEST_CONCURRENCY: expected a whole number from 1, got ${process.env.GATEHOUSE_TEST_CONCURRENCY}`,
  );
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, ...flags, ...files],
  {
    stdio: 'inherit',
  },
);
process.exit(result.status ?? 1);

/**
 * The order files start in: the long end-to-end folders first, so the run does not end with one
 * long file alone; the files that use the Docker engine (one at a time, see exclusive.ts) spread
 * among them, so a second slot is not left waiting for the engine.
 */
function runOrder(list) {
  const engine = new Set([
    'docker/image.test.js',
    'docker/compose.test.js',
    'docker/deploy-engine.test.js',
    'docker/swarm.test.js',
  ]);
  const long = ['pm2/', 'frameworks/', 'buffering/', 'status/browser', 'conformance/'];
  const weight = (f) => {
    const i = long.findIndex((prefix) => f.startsWith(prefix));
    return i === -1 ? long.length : i;
  };
  const others = list
    .filter((f) => !engine.has(f))
    .sort((a, b) => weight(a) - weight(b) || a.localeCompare(b));
  const docker = list.filter((f) => engine.has(f));
  // Every third file an engine file: while one holds the engine, the other slot runs the rest.
  const ordered = [...others];
  for (const [i, file] of docker.entries()) ordered.splice(Math.min(i * 3, ordered.length), 0, file);
  return ordered;
}
