#!/usr/bin/env node
// Runs the compiled test files with Node's built-in runner. Node 20 takes no globs on the
// command line, so the files are listed here. Arguments narrow the run:
//   node scripts/test.js proxy conformance   → only test files whose path contains one of them.
// GATEHOUSE_TEST_SKIP=docker,pm2 leaves out the files under those folders (CI's second Node pass).
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

const skip = (process.env.GATEHOUSE_TEST_SKIP ?? '').split(',').filter(Boolean);
const files = walk(root)
  .filter((f) => filters.length === 0 || filters.some((p) => relative(root, f).includes(p)))
  .filter((f) => !skip.some((area) => relative(root, f).startsWith(`${area}/`)))
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
