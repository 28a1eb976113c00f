// What gatehouse needs from the machine beyond node_modules, and how each is found. One list,
// read by the preflight (`npm test` stops before building when one is missing), by the setup
// (`npm run setup` installs what is missing) and by the tests' `requires()` helper. Plain
// JavaScript: the preflight runs before the TypeScript build. Types: system-deps.d.ts.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

export const packageRoot = join(import.meta.dirname, '..');
/** Installs and starts a Docker engine and builds the base images (no image registry here). */
export const engineScript = join(packageRoot, '..', 'shared', 'docker', 'ensure-engine.sh');
/** The command that installs every dependency below. */
export const setupCommand = 'npm run setup';

/** The first executable `name` on PATH, as a shell finds it; `skip` leaves out some paths. */
export function which(name, skip = () => false) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (!skip(realpathSync(candidate))) return candidate;
    } catch {}
  }
  return null;
}

/**
 * logrotate: on PATH, else in the sbin beside a bin that is (Debian leaves /usr/sbin, where the
 * package puts it, off the PATH of users other than root). Its path, or null.
 */
export function logrotateBin() {
  const onPath = which('logrotate');
  if (onPath) return onPath;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir.endsWith('/bin')) continue;
    const candidate = join(dirname(dir), 'sbin', 'logrotate');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return null;
}

/** A pm2 on PATH that is not this package's own (`npm run` puts node_modules/.bin first). */
export function globalPm2() {
  return which('pm2', (path) => path.startsWith(join(packageRoot, 'node_modules')));
}

/** The version of `name` that package-lock.json pins: a global install uses the same. */
export function lockedVersion(name) {
  const lock = JSON.parse(readFileSync(join(packageRoot, 'package-lock.json'), 'utf8'));
  return lock.packages[`node_modules/${name}`].version;
}

/** The version of the global pm2 on PATH (its bin/pm2 sits in the package), or null. */
export function globalPm2Version() {
  const bin = globalPm2();
  if (!bin) return null;
  return JSON.parse(readFileSync(join(dirname(dirname(realpathSync(bin))), 'package.json'), 'utf8')).version;
}

/** The images the Dockerfile, docker-compose.yml and the image tests start FROM. */
export const baseImages = [
  'debian:bookworm-slim',
  'node:20-bookworm-slim',
  'node:24-bookworm-slim',
  'nginx:stable',
];

function firstLine(result) {
  return (result.error?.message ?? `${result.stderr}${result.stdout}`).trim().split('\n')[0];
}

function dockerMissing() {
  if (!which('docker')) return 'no docker CLI on PATH';
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  if (info.status !== 0) return `the engine does not answer (${firstLine(info)})`;
  const absent = baseImages.filter(
    (image) => spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore' }).status !== 0,
  );
  return absent.length === 0 ? null : `no base image ${absent.join(', ')}`;
}

/** `docker compose` (v2) when present, else `docker-compose` (1.29), else null. */
export function composeCommand() {
  if (which('docker') && spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0)
    return ['docker', 'compose'];
  return which('docker-compose') ? ['docker-compose'] : null;
}

const onPath = (name) => () => (which(name) ? null : 'not on PATH');

/**
 * Each dependency: its name, how setup installs it (`apt`: a Debian package; `engine`:
 * ensure-engine.sh; `npm`: a global npm package at the lockfile's version), what needs it,
 * whether `npm test` does (`tests`), and `missing()`: why it is not usable here, or null.
 */
export const systemDeps = [
  {
    name: 'nginx',
    apt: 'nginx-light',
    usedBy: 'real nginx: test/nginx, test/conformance, npm run bench',
    tests: true,
    missing: onPath('nginx'),
  },
  {
    name: 'chromium',
    apt: 'chromium',
    usedBy: 'pages in a browser: test/status/browser, test/pm2/dev-reload',
    tests: true,
    missing: onPath('chromium'),
  },
  {
    name: 'wrk',
    apt: 'wrk',
    usedBy: 'the load generator of npm run bench',
    tests: false,
    missing: onPath('wrk'),
  },
  {
    name: 'pebble',
    apt: 'pebble',
    usedBy: 'a real ACME server (pebble, pebble-challtestsrv) for automatic certificates: test/tls/acme',
    tests: true,
    missing: () => (which('pebble') && which('pebble-challtestsrv') ? null : 'not on PATH'),
  },
  {
    name: 'h2load',
    apt: 'nghttp2-client',
    usedBy: 'the HTTP/2 load generator of npm run bench -- --tls',
    tests: false,
    missing: onPath('h2load'),
  },
  {
    name: 'logrotate',
    apt: 'logrotate',
    usedBy: "capping pm2's log files: test/pm2/logrotate (deploy/pm2/logrotate.conf)",
    tests: true,
    missing: () => (logrotateBin() ? null : 'not on PATH (nor in /usr/sbin)'),
  },
  {
    name: 'docker',
    engine: true,
    usedBy: 'the container tests in test/docker',
    tests: true,
    missing: dockerMissing,
  },
  {
    name: 'docker compose',
    engine: true,
    usedBy: 'test/docker/compose',
    tests: true,
    missing: () => (composeCommand() ? null : 'neither `docker compose` nor docker-compose'),
  },
  {
    name: 'pm2',
    npm: 'pm2',
    usedBy: 'pm2 as users run it: test/pm2/global-pm2',
    tests: true,
    missing: () => (globalPm2() ? null : 'no global pm2 on PATH'),
  },
];

/** How setup installs `dep`, in words a person can run by hand. */
export function installHint(dep) {
  if (dep.apt) return `apt-get install ${dep.apt}`;
  if (dep.engine) return '../shared/docker/ensure-engine.sh';
  return `npm install -g ${dep.npm}@${lockedVersion(dep.npm)}`;
}
