import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';

/** What tsc compiles, from where to where: read from tsconfig.json. */
export interface BuildLayout {
  root: string;
  tsconfig: string;
  /** The folders tsc reads (`include`). */
  include: string[];
  /** Folders inside them tsc leaves out (`exclude`; folder paths, no globs). */
  exclude: string[];
  rootDir: string;
  outDir: string;
}

export function readBuildLayout(root: string): BuildLayout {
  const tsconfig = join(root, 'tsconfig.json');
  const parsed = JSON.parse(readFileSync(tsconfig, 'utf8')) as {
    include?: string[];
    exclude?: string[];
    compilerOptions?: { rootDir?: string; outDir?: string };
  };
  return {
    root,
    tsconfig,
    include: (parsed.include ?? []).map((dir) => resolve(root, dir)),
    exclude: (parsed.exclude ?? []).map((dir) => resolve(root, dir)),
    rootDir: resolve(root, parsed.compilerOptions?.rootDir ?? '.'),
    outDir: resolve(root, parsed.compilerOptions?.outDir ?? 'dist'),
  };
}

/**
 * Why the build is out of date, or null when it is not: the first source (relative to the root)
 * that has no compiled file or is newer than it, or tsconfig.json when it changed after the
 * oldest compiled file. Stats each file once (about 500 here): milliseconds, where tsc takes
 * 10-20 s to say the same.
 */
export function staleSource(layout: BuildLayout): string | null {
  // An incremental tsc leaves the output of a source it finds unchanged alone: a source that was
  // only touched (a checkout, an editor) would stay "newer" for ever. The stamp of the last build
  // through here covers those.
  const stamp = mtime(stampPath(layout)) ?? 0;
  let oldestOutput = Number.POSITIVE_INFINITY;
  for (const dir of layout.include) {
    for (const source of typeScriptFiles(dir, new Set(layout.exclude))) {
      const output = join(layout.outDir, relative(layout.rootDir, source)).replace(/\.ts$/, '.js');
      const built = mtime(output);
      if (built === null || mtime(source)! > Math.max(built, stamp)) return relative(layout.root, source);
      oldestOutput = Math.min(oldestOutput, Math.max(built, stamp));
    }
  }
  if (oldestOutput === Number.POSITIVE_INFINITY) return relative(layout.root, layout.tsconfig);
  return mtime(layout.tsconfig)! > oldestOutput ? relative(layout.root, layout.tsconfig) : null;
}

/** Written after each good build by buildIfStale: when the outputs were last known current. */
function stampPath(layout: BuildLayout): string {
  return join(layout.outDir, '.build-stamp');
}

/** Every .ts file below `dir` that tsc turns into a .js (declaration files and `excluded` folders are not). */
function typeScriptFiles(dir: string, excluded: ReadonlySet<string>): string[] {
  if (excluded.has(dir)) return [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : typeScriptFiles(path, excluded);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

function mtime(path: string): number | null {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

/**
 * tsc's flags for the project, the same for `up`'s build and for the development profile's
 * `tsc --watch` (deploy/pm2/compiler.ts):
 * - incremental, with the build info in the output folder: after a one-file change tsc re-checks
 *   what that file touches instead of the whole project. Both share that file, and a build info
 *   written with other emit flags would make the watcher's first pass rewrite every output —
 *   and pm2's watcher restart every worker for nothing.
 * - noEmitOnError: a build with errors writes nothing, so workers restarted meanwhile (or a
 *   watcher that sees dist/ change) run the last good code, never half of a broken change.
 */
export function tscArgs(layout: BuildLayout): string[] {
  return [
    '-p',
    layout.tsconfig,
    '--incremental',
    '--tsBuildInfoFile',
    buildInfoPath(layout),
    '--noEmitOnError',
  ];
}

export function buildInfoPath(layout: BuildLayout): string {
  return join(layout.outDir, '.tsbuildinfo');
}

/**
 * Runs tsc for the project, its messages to `output`; resolves with its exit code (tscArgs).
 */
export function compile(layout: BuildLayout, output: NodeJS.WritableStream): Promise<number> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const child = spawn(
    process.execPath,
    [
      tsc,
      ...tscArgs(layout),
      // tsc colours only its own terminal; its output is piped through here.
      ...((output as { isTTY?: boolean }).isTTY ? ['--pretty'] : []),
    ],
    { cwd: layout.root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.pipe(output, { end: false });
  child.stderr.pipe(output, { end: false });
  return new Promise((resolve) => {
    child.once('error', () => resolve(1));
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** What buildIfStale did: nothing, compiled, or tsc failed (its messages went to the output). */
export type BuildResult = { action: 'skipped' } | { action: 'compiled' } | { action: 'failed'; code: number };

/**
 * Compiles when a source changed since the last build, and says so in a line: which file, and
 * how long tsc took; or that the build is up to date and nothing was compiled. With `buildInfo`
 * (the development profile) a build without tsc's incremental build info counts as stale too:
 * the `tsc --watch` that follows starts from that file, and without it would rewrite every
 * output once it has checked the project, restarting the workers a while after they started.
 */
export async function buildIfStale(
  root: string,
  log: (line: string) => void,
  output: NodeJS.WritableStream,
  options: { buildInfo?: boolean } = {},
): Promise<BuildResult> {
  // gatehouse installed as a dependency ships compiled, without its sources or tsconfig.json.
  if (!existsSync(join(root, 'tsconfig.json'))) {
    log('gatehouse: an installed package (no tsconfig.json), not compiling');
    return { action: 'skipped' };
  }
  const layout = readBuildLayout(root);
  // A build tsc failed is marked (it wrote nothing, noEmitOnError), so the next start compiles
  // and shows the errors again rather than run the code of the build before.
  const failedMark = join(layout.outDir, '.build-failed');
  const lastFailed = existsSync(failedMark);
  const changed = lastFailed ? null : staleSource(layout);
  const noBuildInfo = options.buildInfo === true && !existsSync(buildInfoPath(layout));
  if (!lastFailed && changed === null && !noBuildInfo) {
    log('gatehouse: build up to date, not compiling');
    return { action: 'skipped' };
  }
  const why = lastFailed
    ? 'the last build failed'
    : changed !== null
      ? `${changed} changed since the last build`
      : "no incremental build info yet (the development profile's tsc --watch starts from it)";
  log(`gatehouse: ${why}; compiling (tsc)`);
  const started = performance.now();
  const code = await compile(layout, output);
  if (code !== 0) {
    mkdirSync(layout.outDir, { recursive: true });
    writeFileSync(failedMark, `tsc exit ${code}\n`);
    return { action: 'failed', code };
  }
  rmSync(failedMark, { force: true });
  writeFileSync(stampPath(layout), `${new Date().toISOString()}\n`);
  log(`gatehouse: compiled in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { action: 'compiled' };
}
