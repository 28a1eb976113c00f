import { existsSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to dist/config/paths.js; assets (views, the default config) stay at the package
// root and are read from there, so the build copies nothing.
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const defaultConfigFile = resolve(packageRoot, 'config', 'default.yaml');

/**
 * The project gatehouse serves: where `gatehouse up` keeps its own pm2 home (.pm2) and where its
 * processes run, so a relative `workers.app` and the app's own relative paths mean that folder.
 * In a checkout of gatehouse, gatehouse itself. Installed as a dependency (its root inside a
 * node_modules, or npx's cache), the nearest folder up from `cwd` with a package.json (where npm
 * runs the project's scripts), else `cwd`.
 */
export function projectRoot(cwd: string = process.cwd(), root: string = packageRoot): string {
  if (!`${root}${sep}`.includes(`${sep}node_modules${sep}`)) return root;
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(cwd);
  }
}
