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
const files = all
  .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
  .filter((f) => !skip.some((entry) => isUnder(f, entry)))
  .map((f) => join(root, f))
  .sort();
if (skip.length > 0) console.log(`# left out by GATEHOUSE_TEST_SKIP: ${skip.join(', ')}`);
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...flags, ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
