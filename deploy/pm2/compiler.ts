import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type { Config } from '../../config/index.js';
import { readBuildLayout, tscArgs } from './build-check.js';

/**
 * Compile on change, for the development profile: which TypeScript project the workers' code is
 * built from, and the `tsc --watch` that keeps its output current. pm2 runs that watcher as one
 * more app of the ecosystem (gatehouse-tsc), so `gatehouse up --env development` and
 * `pm2 start ecosystem.config.cjs --env development` both get it; pm2's file watcher on the
 * output then restarts the workers one at a time, as for any other change.
 *
 * Why tsc --watch rather than Node's type stripping: the sample site and gatehouse itself run on
 * Node 20, which has none, and they use TypeScript syntax stripping cannot erase. A user's app
 * given as a .ts file (workers.app: app.ts) is run by Node as it is where Node can (22.18+,
 * 24); then there is nothing to compile and pm2 watches the .ts itself.
 *
 * A compile error is printed (pm2 keeps the watcher's output with the others; `gatehouse up`
 * shows it) and nothing is written (noEmitOnError): the workers keep serving the last good build,
 * and the next save that fixes it goes through.
 */

/** The TypeScript project behind the workers' code, and where its tsc comes from. */
export interface WorkersProject {
  tsconfig: string;
  /** typescript/lib/tsc.js: the project's own TypeScript when it has one, else the one gatehouse finds. */
  tsc: string;
  /** tsc's arguments for one build (the watcher adds --watch). */
  args: string[];
}

/**
 * The project the workers run: gatehouse's own (the sample site) when workers.app is unset; for
 * workers.app, the nearest tsconfig.json above the module, looking no further up than the folder
 * with its package.json. null when there is none, when no TypeScript can be found, or when the
 * app is a .ts file (Node runs it itself).
 */
export function workersProject(config: Config, root: string, cwd = root): WorkersProject | null {
  // The sample site is compiled only in gatehouse's own checkout: an installed gatehouse ships dist/.
  const tsconfig = config.workers.app
    ? appTsconfig(resolve(cwd, config.workers.app))
    : resolve(cwd) === resolve(root)
      ? ownTsconfig(root)
      : null;
  if (tsconfig === null) return null;
  const dir = dirname(tsconfig);
  const tsc = resolveFrom(join(dir, 'package.json')) ?? resolveFrom(import.meta.url);
  if (tsc === null) return null;
  // gatehouse's own project shares its build info with `up`'s build (tscArgs); another project's
  // tsc keeps it where tsc puts it by default (beside its output).
  const args =
    dir === resolve(root)
      ? tscArgs(readBuildLayout(dir))
      : ['-p', tsconfig, '--incremental', '--noEmitOnError'];
  return { tsconfig, tsc, args };
}

/** The arguments of the watcher: one build's, kept running, its output never cleared. */
export function watchArgs(project: WorkersProject): string[] {
  return [...project.args, '--watch', '--preserveWatchOutput'];
}

function ownTsconfig(root: string): string | null {
  const file = join(root, 'tsconfig.json');
  return existsSync(file) ? file : null;
}

function appTsconfig(app: string): string | null {
  if (/\.[cm]?ts$/.test(app)) return null;
  for (let dir = dirname(app); ; dir = dirname(dir)) {
    const file = join(dir, 'tsconfig.json');
    if (existsSync(file)) return file;
    // The package's root is as far as the app's project goes; without one, nothing is guessed.
    if (existsSync(join(dir, 'package.json')) || dirname(dir) === dir) return null;
  }
}

/** typescript/lib/tsc.js as a module at `from` (a file path or URL) would import it, or null. */
function resolveFrom(from: string): string | null {
  try {
    return createRequire(from).resolve('typescript/lib/tsc.js');
  } catch {
    return null;
  }
}
