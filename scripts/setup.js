#!/usr/bin/env node
// `npm run setup`: installs what the tests and the bench need from this Debian machine and it
// lacks (the list: system-deps.js): Debian packages, a Docker engine with its base images, the
// global pm2 at the lockfile's version. Does nothing when all is there; otherwise needs root.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  engineScript,
  globalPm2,
  globalPm2Version,
  installHint,
  lockedVersion,
  setupCommand,
  systemDeps,
} from './system-deps.js';

function say(line) {
  console.log(`setup: ${line}`);
}

function fail(lines) {
  console.error(lines.map((line) => `setup: ${line}`).join('\n'));
  process.exit(1);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'], ...options });
  if (result.status !== 0)
    fail([`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`]);
}

/** Why `dep` needs installing, or null. A global pm2 of another version than the lockfile's is replaced. */
function whyInstall(dep) {
  const why = dep.missing();
  if (why !== null || !dep.npm || !globalPm2()) return why;
  const [have, want] = [globalPm2Version(), lockedVersion(dep.npm)];
  return have === want ? null : `global ${dep.npm} is ${have}, the lockfile's is ${want}`;
}

const todo = systemDeps.map((dep) => ({ dep, why: whyInstall(dep) })).filter(({ why }) => why !== null);
if (todo.length === 0) {
  say(`nothing to install (${systemDeps.map((dep) => dep.name).join(', ')} are all here)`);
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  fail([
    `${setupCommand} must run as root, since it installs system packages (sudo ${setupCommand}). Missing:`,
    ...todo.map(({ dep, why }) => `  ${dep.name}: ${why} (${installHint(dep)})`),
  ]);
}

const packages = todo.filter(({ dep }) => dep.apt).map(({ dep }) => dep.apt);
if (packages.length > 0) {
  say(`installing Debian packages ${packages.join(' ')}`);
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', ...packages], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (packages.includes('nginx-light')) {
    // The package starts a system nginx on port 80 and enables it at boot; the tests run their own.
    say('stopping and disabling the system nginx the package started');
    const stop = 'systemctl disable --now nginx || { service nginx stop; update-rc.d nginx disable; }';
    spawnSync('sh', ['-c', stop], { stdio: 'ignore' });
  }
}

if (todo.some(({ dep }) => dep.engine)) {
  if (!existsSync(engineScript))
    fail([`${engineScript} is missing: it installs and starts the Docker engine`]);
  say(`Docker engine and base images: ${engineScript}`);
  run('bash', [engineScript]);
}

for (const { dep } of todo.filter(({ dep }) => dep.npm)) {
  const spec = `${dep.npm}@${lockedVersion(dep.npm)}`;
  say(`installing the global ${spec}`);
  run('npm', ['install', '-g', '--silent', spec]);
}

const left = systemDeps.map((dep) => ({ dep, why: dep.missing() })).filter(({ why }) => why !== null);
if (left.length > 0)
  fail(['still missing after installing:', ...left.map(({ dep, why }) => `  ${dep.name}: ${why}`)]);
say(`done: ${systemDeps.map((dep) => dep.name).join(', ')}`);
