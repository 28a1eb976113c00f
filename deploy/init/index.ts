import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { type Address, parseAddress } from '../../config/index.js';
import { connectAddress } from '../pm2/status.js';
import {
  type AppModule,
  appModuleWarnings,
  COMMON_APP_FILES,
  findAppModule,
  type PackageJson,
} from './app-module.js';
import {
  CONTAINER_CONFIG,
  defaultValue,
  type InitValues,
  loadRendered,
  renderComposeFile,
  renderContainerConfig,
  renderHostConfig,
} from './render.js';

export const CONFIG_FILE = 'gatehouse.yaml';
export const COMPOSE_FILE = 'docker-compose.yml';
/** The npm scripts init adds when the project has none of that name. */
export const SCRIPTS = { start: `gatehouse up --config ${CONFIG_FILE}`, stop: 'gatehouse down' } as const;

export interface InitOptions {
  /** The app's folder. */
  dir: string;
  /** The module exporting the app, relative to `dir`; found when not given. */
  app?: string | null;
  /** Also write docker-compose.yml and gatehouse.compose.yaml. */
  compose?: boolean;
  /** Overwrite the files init writes when they exist. */
  force?: boolean;
  /** Workers on this host (default: os.availableParallelism()). */
  workers?: number;
}

export interface InitReport {
  dir: string;
  app: AppModule;
  /** The files written, relative to dir. */
  written: string[];
  /** package.json's scripts: those added, and those kept as the project had them (name → command). */
  scripts: { added: string[]; kept: Record<string, string> } | null;
  /** Whether `.pm2/` was added to .gitignore. */
  gitignore: boolean;
  /** What to know before the first start, one sentence each. */
  warnings: string[];
  /** What to run next: command, what it does. */
  next: [string, string][];
}

export type InitErrorCode =
  | 'GH_ERR_INIT_DIR'
  | 'GH_ERR_INIT_PACKAGE'
  | 'GH_ERR_INIT_NO_APP'
  | 'GH_ERR_INIT_EXISTS';

/** Why init wrote nothing: one line a person can act on. */
export class InitError extends Error {
  constructor(
    readonly code: InitErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'InitError';
  }
}

/**
 * `gatehouse init`: in an existing app's folder, writes a commented gatehouse.yaml (the app module,
 * a worker per core, the default ports), adds npm start/stop scripts the project lacks and `.pm2/`
 * to its .gitignore, and with `compose` a docker-compose.yml beside the container config. Checks
 * everything before it writes anything; a file that exists is overwritten only with `force`.
 */
export function initProject(options: InitOptions): InitReport {
  const dir = resolve(options.dir);
  if (!isDirectory(dir)) throw new InitError('GH_ERR_INIT_DIR', `${dir} is not a folder`);
  const pkg = readPackageJson(dir);
  const app = pickAppModule(dir, pkg, options.app ?? null);
  const values: InitValues = { app: app.module, workers: options.workers ?? availableParallelism() };

  // The schema ships in the package: an editor finds it from the file, once gatehouse is installed.
  const schema = 'node_modules/gatehouse/gatehouse.schema.json';
  const files: [string, string][] = [
    [CONFIG_FILE, renderHostConfig(values, existsSync(join(dir, schema)) ? schema : null)],
  ];
  const listen = parseAddress(String(defaultValue('listen')))!;
  if (options.compose) {
    files.push([COMPOSE_FILE, renderComposeFile({ ...values, port: listen.port })]);
    files.push([CONTAINER_CONFIG, renderContainerConfig(values)]);
  }
  const existing = files.map(([name]) => name).filter((name) => existsSync(join(dir, name)));
  if (existing.length > 0 && !options.force) {
    const one = existing.length === 1;
    throw new InitError(
      'GH_ERR_INIT_EXISTS',
      `${listing(existing)} already ${one ? 'exists' : 'exist'} in ${dir}; --force overwrites ${one ? 'it' : 'them'}`,
    );
  }
  // What init writes must load as every process loads it: a broken render is a bug, caught here.
  for (const [name, text] of files) if (name !== COMPOSE_FILE) loadRendered(text, join(dir, name));

  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  const scripts = pkg ? addScripts(dir, pkg) : null;
  const gitignore = ignorePm2Home(dir);
  return {
    dir,
    app,
    written: files.map(([name]) => name),
    scripts,
    gitignore,
    warnings: appModuleWarnings(dir, app.module),
    next: nextCommands({
      dir,
      pkg,
      scripts,
      compose: options.compose === true,
      workers: values.workers,
      listen,
    }),
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readPackageJson(dir: string): PackageJson | null {
  const path = join(dir, 'package.json');
  if (!existsSync(path)) return null;
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as PackageJson;
    throw new Error('not an object');
  } catch (err) {
    throw new InitError(
      'GH_ERR_INIT_PACKAGE',
      `${path}: ${(err as Error).message}; fix it, then run init again`,
    );
  }
}

function pickAppModule(dir: string, pkg: PackageJson | null, app: string | null): AppModule {
  if (app !== null) {
    const module = relative(dir, resolve(dir, app)).split(sep).join('/');
    if (!existsSync(join(dir, module))) {
      throw new InitError('GH_ERR_INIT_NO_APP', `--app ${app}: there is no ${join(dir, module)}`);
    }
    return { module, source: '--app' };
  }
  const { found, missing } = findAppModule(dir, pkg);
  if (found) return found;
  const declared = missing.length > 0 ? `${missing.join(' and ')} names no file there, and ` : '';
  throw new InitError(
    'GH_ERR_INIT_NO_APP',
    `no app module found in ${dir}: ${declared}none of ${COMMON_APP_FILES.filter((f) => f.endsWith('.js')).join(', ')} (or .mjs, .cjs, .ts, .mts) exists; say which with --app MODULE`,
  );
}

/** Adds the start and stop scripts the project lacks; keeps the ones it has. package.json keeps its indent. */
function addScripts(dir: string, pkg: PackageJson): { added: string[]; kept: Record<string, string> } {
  const scripts = { ...(pkg.scripts ?? {}) };
  const added: string[] = [];
  const kept: Record<string, string> = {};
  for (const [name, command] of Object.entries(SCRIPTS)) {
    if (name in scripts) kept[name] = String(scripts[name]);
    else {
      scripts[name] = command;
      added.push(name);
    }
  }
  if (added.length > 0) {
    const path = join(dir, 'package.json');
    const text = readFileSync(path, 'utf8');
    const indent = /^([ \t]+)"/m.exec(text)?.[1] ?? 2;
    writeFileSync(
      path,
      `${JSON.stringify({ ...pkg, scripts }, null, indent)}${text.endsWith('\n') ? '\n' : ''}`,
    );
  }
  return { added, kept };
}

/** `gatehouse up` keeps its pm2 (sockets, logs) in .pm2/ of the project: no business of git's. */
function ignorePm2Home(dir: string): boolean {
  const path = join(dir, '.gitignore');
  if (!existsSync(path)) return false;
  const text = readFileSync(path, 'utf8');
  if (/^\/?\.pm2\/?$/m.test(text)) return false;
  writeFileSync(path, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}.pm2/\n`);
  return true;
}

function nextCommands(context: {
  dir: string;
  pkg: PackageJson | null;
  scripts: InitReport['scripts'];
  compose: boolean;
  workers: number;
  listen: Address;
}): [string, string][] {
  const { dir, pkg, scripts, compose, workers, listen } = context;
  const installed = [pkg?.dependencies, pkg?.devDependencies].some((deps) => deps && 'gatehouse' in deps);
  const pool = workers === 1 ? '1 worker' : `${workers} workers`;
  const config = `--config ${CONFIG_FILE}`;
  // docker compose v2 reads compose.yaml before docker-compose.yml: name ours when another is there.
  const otherCompose = ['compose.yaml', 'compose.yml', 'docker-compose.yaml'].some((name) =>
    existsSync(join(dir, name)),
  );
  const composeUp = otherCompose ? `docker compose -f ${COMPOSE_FILE} up -d` : 'docker compose up -d';
  const next: [string, string][] = [];
  if (!installed)
    next.push(['npm install gatehouse', "gatehouse is not among package.json's dependencies yet"]);
  next.push(
    [`npx gatehouse check ${config}`, 'check the config (like nginx -t)'],
    [
      scripts?.added.includes('start') ? 'npm start' : `npx gatehouse up ${config}`,
      `${pool} and the proxy under a pm2 of their own, in the foreground: http://${connectAddress(listen)}/ (Ctrl-C stops it)`,
    ],
    [
      `npx gatehouse up ${config} --env development`,
      'the same, the workers restarting when the code changes',
    ],
    [
      scripts?.added.includes('stop') ? 'npm stop' : 'npx gatehouse down',
      'stop a stack whose terminal was closed without Ctrl-C',
    ],
    [
      `npx gatehouse nginx ${config} -o gatehouse.nginx.conf`,
      'the same front as an nginx config, for real nginx instead of the proxy',
    ],
    compose
      ? [
          composeUp,
          `the stack in containers (docker-compose for 1.29): ${pool} behind the proxy, on port ${listen.port}`,
        ]
      : ['npx gatehouse init --compose', `also write ${COMPOSE_FILE}, for docker compose up`],
  );
  return next;
}

/** "a", "a and b", "a, b and c". */
function listing(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}
