import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { StartOptions } from 'pm2';
import { type Config, loadConfig, packageRoot, projectRoot } from '../../config/index.js';
import { PM2_WORKERS_VAR } from '../../stack/pm2-bus.js';
import { PORT_BASE_VAR } from '../../stack/worker-port.js';
import { watchArgs, workersProject } from './compiler.js';

/** pm2's `--env NAME` picks `env_NAME`; `development` also turns on the file watcher. */
export type EcosystemProfile = 'production' | 'development';

/** One app of an ecosystem file: pm2's start options plus the keys only files have. */
export interface Pm2App extends StartOptions {
  name: string;
  env: Record<string, string>;
  env_production: Record<string, string>;
  env_development: Record<string, string>;
  watch_delay?: number;
  watch_options?: Record<string, unknown>;
}

export interface Ecosystem {
  apps: Pm2App[];
}

export interface EcosystemOptions {
  /** The package root: where bin/gatehouse.js and dist/ are (default: this package). */
  root?: string;
  /**
   * Where the processes run (default: the project, projectRoot()): a relative `workers.app` and
   * the app's own relative paths are taken from there. The package root in gatehouse's checkout.
   */
  cwd?: string;
  profile?: EcosystemProfile;
}

export const WORKER_APP = 'gatehouse-worker';
export const PROXY_APP = 'gatehouse-proxy';
/** Development profile only: `tsc --watch` for the workers' TypeScript project (compiler.ts). */
export const COMPILER_APP = 'gatehouse-tsc';

// How long pm2 waits for a process's 'ready' before it treats it as up anyway: during a reload it
// then stops the old process (pm2 7's backstop in lib/God/Reload.js) and moves on to the next
// instance. Start-up takes under a second on an idle machine, but over 15 s was seen on a loaded
// 2-core CI machine; a reload that moves on early stops the old proxy while the new one is not
// listening yet (refused connects) or the next worker while this one is not. A broken new process
// costs this much time in a reload, while the old one goes on serving.
const LISTEN_TIMEOUT = 60_000;
// pm2 sends SIGINT, then SIGKILL after kill_timeout. The worker and the proxy give up on slow
// requests after their own grace period; the margin lets them close those connections and exit
// by themselves, so SIGKILL stays a backstop for a process that hangs.
const KILL_MARGIN = 5_000;

/**
 * The pm2 ecosystem for a config: the workers as one fork-mode app with one instance per worker
 * (instance i listens on workers.port + i, from pm2's NODE_APP_INSTANCE), and the proxy, which
 * follows that app's live instances through pm2's API.
 *
 * The proxy runs in cluster mode even with one instance: then pm2's master holds the listening
 * socket, and `pm2 reload gatehouse-proxy` starts the new proxy process next to the old one before
 * the old one drains, so no connection is refused. A fork-mode proxy can only be restarted, and
 * clients would meet a closed port in the gap.
 */
export function createEcosystem(config: Config, options: EcosystemOptions = {}): Ecosystem {
  const { root = packageRoot, cwd = projectRoot(), profile = 'production' } = options;
  const script = join(root, 'bin', 'gatehouse.js');
  // The config file travels as an absolute path: pm2 may start the processes from another cwd.
  const shared: Record<string, string> = config.source ? { GATEHOUSE_CONFIG: config.source } : {};
  const development = profile === 'development';

  const worker = workerApp(WORKER_APP, ['worker'], config, { script, cwd, shared, development, root });
  // A route with workers of its own (routes[].workers, no servers listed): one more worker app.
  const routeWorkers = config.routes.flatMap((route) =>
    route.target.kind === 'pool' && route.target.localWorkers
      ? [
          workerApp(
            routeWorkerApp(route.name),
            ['worker', '--route', route.name],
            { ...config, workers: route.target.workers, upstream: route.target.upstream },
            { script, cwd, shared, development, root },
          ),
        ]
      : [],
  );

  const proxy: Pm2App = {
    name: PROXY_APP,
    script,
    args: ['proxy'],
    cwd,
    exec_mode: 'cluster',
    instances: config.instances,
    // The pool follows the worker app's live instances (pm2 scale) unless the config lists servers.
    env: { ...shared, [PM2_WORKERS_VAR]: WORKER_APP },
    env_production: { NODE_ENV: 'production' },
    env_development: { NODE_ENV: 'development' },
    wait_ready: true,
    listen_timeout: LISTEN_TIMEOUT,
    kill_timeout: config.timeouts.shutdown + KILL_MARGIN,
    merge_logs: true,
    watch: false,
  };

  const compiler = development ? compilerApp(config, root, cwd) : null;
  return { apps: [worker, ...routeWorkers, proxy, ...(compiler ? [compiler] : [])] };
}

/** The pm2 app of a route's own workers. */
export function routeWorkerApp(route: string): string {
  return `${WORKER_APP}-${route.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

interface WorkerAppContext {
  script: string;
  cwd: string;
  shared: Record<string, string>;
  development: boolean;
  root: string;
}

/** A fork-mode app of `config.workers.count` workers (the top-level ones, or a route's). */
function workerApp(name: string, args: string[], config: Config, context: WorkerAppContext): Pm2App {
  const { script, cwd, shared, development, root } = context;
  const { workers } = config;
  return {
    name,
    script,
    args,
    cwd,
    // The Node that runs gatehouse up (or pm2's CLI), as the proxy's cluster mode gets it: pm2 would
    // start a fork-mode .js with the first `node` on PATH, which may lack what this one has (type
    // stripping for a .ts app).
    interpreter: process.execPath,
    exec_mode: 'fork',
    instances: workers.count,
    // Worker i listens on workers.port + NODE_APP_INSTANCE, which pm2 keeps through every
    // operation; increment_var is lost on an ecosystem reload (stack/worker-port.ts).
    env: { ...shared, [PORT_BASE_VAR]: String(workers.port), HOST: workers.host },
    env_production: { NODE_ENV: 'production' },
    env_development: { NODE_ENV: 'development' },
    wait_ready: true,
    listen_timeout: LISTEN_TIMEOUT,
    kill_timeout: workers.gracePeriod + KILL_MARGIN,
    max_memory_restart: workers.maxMemory,
    merge_logs: true,
    ...(development ? watchOptions(config, root, cwd) : { watch: false }),
  };
}

/**
 * Compile on change: tsc --watch over the workers' project, so a saved .ts reaches dist/ and
 * pm2's watcher restarts the workers from there. A compile error is printed and writes nothing;
 * the watcher keeps running (and pm2 would start it again if it died). It never says ready.
 */
function compilerApp(config: Config, root: string, cwd: string): Pm2App | null {
  const project = workersProject(config, root, cwd);
  if (!project) return null;
  return {
    name: COMPILER_APP,
    script: project.tsc,
    args: watchArgs(project),
    cwd: dirname(project.tsconfig),
    exec_mode: 'fork',
    instances: 1,
    env: {},
    env_production: {},
    env_development: {},
    merge_logs: true,
    watch: false,
    kill_timeout: 3000,
  };
}

/**
 * What a code change touches: the compiled app, its process plumbing (process/, stack/), config and CLI the workers run, the templates, the
 * config files, and the user's app module's directory (every file in it: a .ts module that Node
 * runs as it is, too). pm2 restarts the workers when one changes. pm2 takes relative paths from
 * the processes' `cwd`: the package root in a checkout, else the user's project.
 */
function watchOptions(config: Config, root: string, cwd: string): Partial<Pm2App> {
  // gatehouse's own code changes while gatehouse is developed, in its checkout; installed in a
  // project it changes only with an npm install.
  const watched =
    cwd === root
      ? [
          'dist/app',
          'dist/process',
          'dist/stack',
          'dist/config',
          'dist/cli',
          'app/site/views',
          'config/default.yaml',
        ]
      : [];
  // pm2's watcher (chokidar) joins a relative pattern to the processes' cwd: a pattern for the
  // app's folder, which may lie elsewhere, is spelled out absolute below.
  const ignored = ['node_modules', 'logs', 'test', '*.log', '**/*.map', '**/*.tsbuildinfo'];
  if (config.workers.app) {
    const appDir = dirname(resolve(cwd, config.workers.app));
    watched.push(relativeOrAbsolute(cwd, appDir));
    // The app's own project, when it lives outside this one: its dependencies, logs, tests,
    // source maps and tsc's build info too.
    if (isAbsolute(relativeOrAbsolute(cwd, appDir))) {
      ignored.push(
        ...['node_modules', 'logs', 'test', '**/*.map', '**/*.tsbuildinfo'].map((name) => join(appDir, name)),
      );
    }
    // Compiled where it lies (app.ts beside app.js): the compiler's output restarts the workers,
    // not the save of the source a second before it.
    if (workersProject(config, root, cwd)) {
      ignored.push(...['**/*.ts', '**/*.mts', '**/*.cts'].map((name) => join(appDir, name)));
    }
  }
  if (config.source) watched.push(relativeOrAbsolute(cwd, config.source));
  return {
    watch: [...new Set(watched)],
    ignore_watch: ignored,
    // A build rewrites many files at once: one restart for the lot.
    watch_delay: 1000,
  };
}

function relativeOrAbsolute(root: string, path: string): string {
  const rel = relative(root, path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel || '.';
}

/** The profile pm2 was asked for (`--env development`, `--env=production`); production by default. */
export function profileFromArgv(argv: readonly string[]): EcosystemProfile {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = arg === '--env' ? argv[i + 1] : arg.startsWith('--env=') ? arg.slice(6) : undefined;
    if (value === 'development' || value === 'production') return value;
  }
  return 'production';
}

/** What ecosystem.config.cjs exports: the config from $GATEHOUSE_CONFIG or the embedded default. */
export function ecosystemFromConfig(argv: readonly string[] = []): Ecosystem {
  return createEcosystem(loadConfig(), { profile: profileFromArgv(argv) });
}
