#!/usr/bin/env node
// `npm test` runs this first, before the build: when the machine lacks a program the tests use,
// it names every one of them in one block with the command that installs them, and exits 1
// (rather than letting dozens of tests fail with `spawn nginx ENOENT`).
import { setupCommand, systemDeps } from './system-deps.js';

const missing = systemDeps
  .filter((dep) => dep.tests)
  .map((dep) => ({ dep, why: dep.missing() }))
  .filter(({ why }) => why !== null);

if (missing.length > 0) {
  const width = Math.max(...missing.map(({ dep }) => dep.name.length));
  const lines = missing.map(({ dep, why }) => `  ${dep.name.padEnd(width)}  ${why}; needed by ${dep.usedBy}`);
  console.error(
    [
      `npm test: this machine lacks ${missing.length === 1 ? 'a program' : 'programs'} the tests need:`,
      ...lines,
      `Install ${missing.length === 1 ? 'it' : 'them all'} with (as root): ${setupCommand}`,
    ].join('\n'),
  );
  process.exit(1);
}
