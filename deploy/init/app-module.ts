import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { isTypeScriptModule, nodeRunsTypeScript, TYPESCRIPT_ADVICE } from '../../app/typescript.js';

/** The parts of a package.json that init reads or writes. */
export interface PackageJson {
  name?: unknown;
  main?: unknown;
  exports?: unknown;
  scripts?: Record<string, unknown>;
  dependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
}

/** The module that exports the app, relative to the project folder ('/'-separated), and why it. */
export interface AppModule {
  module: string;
  /** Where the choice came from, as init prints it: `package.json "main"`, `--app`… */
  source: string;
}

/** Where an app usually lives when package.json does not say: the order init looks in. */
export const COMMON_APP_FILES: readonly string[] = ['app', 'server', 'index'].flatMap((name) =>
  ['', 'src/'].flatMap((dir) => ['js', 'mjs', 'cjs', 'ts', 'mts'].map((ext) => `${dir}${name}.${ext}`)),
);

/**
 * The app module of the project in `dir`: package.json's `exports` (its "." entry) or `main` when
 * it names a file there, else the first of COMMON_APP_FILES that exists. `missing` lists the
 * package.json entries that name a file that is not there (not built yet?).
 */
export function findAppModule(
  dir: string,
  pkg: PackageJson | null,
): { found: AppModule | null; missing: string[] } {
  const missing: string[] = [];
  const declared: [string, unknown][] = [
    ['package.json "exports"', exportsTarget(pkg?.exports)],
    ['package.json "main"', pkg?.main],
  ];
  for (const [source, target] of declared) {
    if (typeof target !== 'string' || target === '') continue;
    const module = existingFile(dir, target);
    if (module) return { found: { module, source }, missing };
    missing.push(`${source} (${target})`);
  }
  const common = COMMON_APP_FILES.find((file) => isFile(join(dir, file)));
  return { found: common ? { module: common, source: 'a common name' } : null, missing };
}

/** The file a package.json entry names, as Node's CommonJS resolution finds it (.js, /index.js). */
function existingFile(dir: string, target: string): string | null {
  const path = posix.normalize(target.replaceAll('\\', '/')).replace(/^\.\//, '');
  for (const candidate of [path, `${path}.js`, `${path}/index.js`]) {
    if (isFile(join(dir, candidate))) return candidate;
  }
  return null;
}

/** The file of an `exports` field's "." entry, conditions read as Node reads them for an import. */
function exportsTarget(exports: unknown): unknown {
  if (typeof exports === 'string' || exports === null || typeof exports !== 'object') return exports;
  if (Array.isArray(exports)) return exports.find((entry) => typeof entry === 'string');
  const map = exports as Record<string, unknown>;
  const subpaths = Object.keys(map).some((key) => key.startsWith('.'));
  if (subpaths) return exportsTarget(map['.']);
  const condition = ['node', 'import', 'default', 'require'].find((name) => name in map);
  return condition ? exportsTarget(map[condition]) : undefined;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * What a person should know about the module before the first start, one sentence each: a
 * TypeScript module and this Node; a module that exports no app, or that listens by itself (in
 * every worker, beside the worker's own port). From the source text: a hint, not a proof.
 */
export function appModuleWarnings(dir: string, module: string): string[] {
  const warnings: string[] = [];
  if (isTypeScriptModule(module) && !nodeRunsTypeScript()) {
    warnings.push(`${module} is TypeScript, which Node ${process.version} cannot run: ${TYPESCRIPT_ADVICE}`);
  }
  const path = join(dir, module);
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const exportsApp =
    /\bexport\s+default\b|\bexport\s+(?:const|let|var|function|class)\s+app\b|\bexport\s*\{[^}]*\b(?:app|default)\b[^}]*\}|\bmodule\.exports\b|\bexports\.(?:app|default)\b/.test(
      text,
    );
  const listens = /\.listen\s*\(/.test(text);
  if (!exportsApp) {
    warnings.push(
      `${module} does not seem to export the app: gatehouse imports the module and serves its default export (or \`app\`): end it with \`export default app\` (or \`module.exports = app\`)${listens ? ' instead of calling listen()' : ''}`,
    );
  } else if (listens) {
    warnings.push(
      `${module} seems to call listen() too: that would run in every worker, beside the worker's own port; listen only when the file runs by itself (\`require.main === module\`), or in a file of its own`,
    );
  }
  return warnings;
}
