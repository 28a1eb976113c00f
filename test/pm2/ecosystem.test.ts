import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig, packageRoot } from '../../config/index.js';
import { workersProject } from '../../deploy/pm2/compiler.js';
import {
  COMPILER_APP,
  createEcosystem,
  type Ecosystem,
  type Pm2App,
  PROXY_APP,
  profileFromArgv,
  WORKER_APP,
} from '../../deploy/pm2/ecosystem.js';

/** A config file in a temp dir (JSON is YAML), loaded the way every process loads it. */
function withConfig<T>(document: Record<string, unknown>, use: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'gh-eco-'));
  try {
    return use(writeConfig(dir, document));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function writeConfig(dir: string, document: Record<string, unknown>): string {
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, JSON.stringify(document));
  return file;
}

interface Watcher {
  on(event: string, listener: (...args: string[]) => void): void;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);

function app(ecosystem: Ecosystem, name: string): Pm2App {
  const found = ecosystem.apps.find((a) => a.name === name);
  assert.ok(found, `no app ${name}`);
  return found;
}

const document = {
  instances: 3,
  workers: {
    count: 4,
    port: 9100,
    host: '127.0.0.2',
    grace_period: '7s',
    max_memory: '300M',
    app: 'site/app.js',
  },
  timeouts: { shutdown: '12s' },
};

describe('createEcosystem', () => {
  test('the workers are one fork-mode app with one instance per configured worker, ports from NODE_APP_INSTANCE', () => {
    withConfig(document, (file) => {
      const config = loadConfig({ file });
      const worker = app(createEcosystem(config), WORKER_APP);
      assert.equal(worker.exec_mode, 'fork');
      assert.equal(worker.instances, 4);
      // No increment_var (pm2 drops it on an ecosystem reload) and no PORT (a PORT in the shell
      // that runs pm2 must not decide): each instance adds NODE_APP_INSTANCE to the base.
      assert.equal(worker.increment_var, undefined);
      assert.equal(worker.env.PORT, undefined);
      assert.equal(worker.env.GATEHOUSE_WORKER_PORT_BASE, '9100');
      assert.equal(worker.env.HOST, '127.0.0.2');
      assert.equal(worker.script, join(packageRoot, 'bin', 'gatehouse.js'));
      assert.equal(
        worker.interpreter,
        process.execPath,
        'the Node that runs gatehouse up, not the first on PATH',
      );
      assert.deepEqual(worker.args, ['worker']);
      assert.equal(worker.max_memory_restart, '300M');
    });
  });

  test('the proxy follows the worker app under pm2: it is told the app name, and finds workers by their pm2 instance', () => {
    withConfig(document, (file) => {
      const { apps } = createEcosystem(loadConfig({ file }));
      assert.equal(app({ apps }, PROXY_APP).env.GATEHOUSE_PM2_WORKERS, WORKER_APP);
      assert.equal(app({ apps }, WORKER_APP).instance_var, undefined, "pm2's default, NODE_APP_INSTANCE");
    });
  });

  test('pm2 waits for ready and gives each process longer than its own grace period before SIGKILL', () => {
    withConfig(document, (file) => {
      const config = loadConfig({ file });
      const { apps } = createEcosystem(config);
      for (const a of apps) {
        assert.equal(a.wait_ready, true, a.name);
        // Beyond a start on a loaded machine (over 15 s seen): when it runs out, a reload stops
        // the old process whether or not the new one listens.
        assert.ok((a.listen_timeout ?? 0) >= 30_000, `${a.name} listen_timeout`);
      }
      assert.ok((app({ apps }, WORKER_APP).kill_timeout ?? 0) > config.workers.gracePeriod);
      assert.ok((app({ apps }, PROXY_APP).kill_timeout ?? 0) > config.timeouts.shutdown);
    });
  });

  test('the proxy runs in cluster mode with the configured instances, so a reload never closes the port', () => {
    for (const instances of [1, 3]) {
      withConfig({ instances }, (file) => {
        const proxy = app(createEcosystem(loadConfig({ file })), PROXY_APP);
        assert.equal(proxy.exec_mode, 'cluster');
        assert.equal(proxy.instances, instances);
        assert.deepEqual(proxy.args, ['proxy']);
      });
    }
  });

  test('every process gets the config file as an absolute GATEHOUSE_CONFIG; the embedded default passes none', () => {
    withConfig(document, (file) => {
      for (const a of createEcosystem(loadConfig({ file })).apps)
        assert.equal(a.env.GATEHOUSE_CONFIG, file, a.name);
    });
    for (const a of createEcosystem(loadConfig({ env: {} })).apps)
      assert.equal(a.env.GATEHOUSE_CONFIG, undefined);
  });

  test('production and development profiles: NODE_ENV for both, the watcher only in development', () => {
    withConfig(document, (file) => {
      const config = loadConfig({ file });
      const production = app(createEcosystem(config, { profile: 'production' }), WORKER_APP);
      assert.equal(production.env_production.NODE_ENV, 'production');
      assert.equal(production.env_development.NODE_ENV, 'development');
      assert.equal(production.watch, false);

      const development = app(createEcosystem(config, { profile: 'development' }), WORKER_APP);
      assert.ok(Array.isArray(development.watch));
      const watched = development.watch as string[];
      for (const path of ['dist/app', 'app/site/views', 'config/default.yaml', 'site']) {
        assert.ok(watched.includes(path), `watches ${path}: ${watched.join(', ')}`);
      }
      assert.ok(watched.includes(file), 'watches the config file');
      for (const ignored of ['node_modules', 'logs', 'test']) {
        assert.ok(development.ignore_watch?.includes(ignored), `ignores ${ignored}`);
      }
      // The proxy is never watched: pm2 would restart it (a gap), not reload it.
      assert.equal(app(createEcosystem(config, { profile: 'development' }), PROXY_APP).watch, false);
    });
  });
});

describe('createEcosystem for an installed gatehouse', () => {
  test("the processes run in the user's project; the watcher follows the app and the config, not the installed package", () => {
    const root = '/srv/shop/node_modules/gatehouse';
    withConfig({ workers: { app: 'src/server.ts' } }, (file) => {
      const config = loadConfig({ file });
      const ecosystem = createEcosystem(config, { root, cwd: '/srv/shop', profile: 'development' });
      const worker = app(ecosystem, WORKER_APP);
      for (const a of ecosystem.apps) {
        assert.equal(a.cwd, '/srv/shop', a.name);
        assert.equal(a.script, join(root, 'bin', 'gatehouse.js'), a.name);
      }
      assert.deepEqual(worker.watch, ['src', file]);
    });
  });

  test("a TypeScript app's folder is watched: pm2's own watcher, as pm2 sets it up, sees server.ts change", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-watch-ts-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'server.ts'), 'export default (r: Request) => new Response("1");\n');
    const config = loadConfig({ file: writeConfig(dir, { workers: { app: 'src/server.ts' } }) });
    const worker = app(createEcosystem(config, { cwd: dir, profile: 'development' }), WORKER_APP);
    // pm2's Watcher.js: chokidar.watch(watch, { ignored: ignore_watch, persistent, ignoreInitial, cwd }).
    const chokidar = createRequire(require.resolve('pm2/package.json'))('chokidar') as {
      watch(paths: unknown, options: Record<string, unknown>): Watcher;
    };
    const watcher = chokidar.watch(worker.watch, {
      ignored: worker.ignore_watch,
      persistent: true,
      ignoreInitial: true,
      cwd: worker.cwd,
    });
    t.after(() => watcher.close());
    await new Promise((resolve) => watcher.on('ready', resolve));
    const changed = new Promise<string>((resolve) => watcher.on('all', (_event, path) => resolve(path)));
    writeFileSync(join(dir, 'src', 'server.ts'), 'export default (r: Request) => new Response("2");\n');
    assert.equal(await changed, join('src', 'server.ts'));
  });
});

describe('compile on change (development profile)', () => {
  test("the development profile adds tsc --watch over the workers' project; production has no compiler", () => {
    const config = loadConfig({ env: {} });
    assert.equal(
      createEcosystem(config).apps.find((a) => a.name === COMPILER_APP),
      undefined,
      'production',
    );
    const tsc = app(createEcosystem(config, { profile: 'development' }), COMPILER_APP);
    assert.match(tsc.script ?? '', /typescript[\\/]lib[\\/]tsc\.js$/);
    assert.equal(tsc.cwd, packageRoot);
    const args = tsc.args as string[];
    // The same build info and emit flags as `gatehouse up`'s build, plus watching.
    for (const flag of ['--incremental', '--noEmitOnError', '--watch', '--preserveWatchOutput']) {
      assert.ok(args.includes(flag), `${flag} in ${args.join(' ')}`);
    }
    assert.equal(args[args.indexOf('-p') + 1], join(packageRoot, 'tsconfig.json'));
    assert.equal(args[args.indexOf('--tsBuildInfoFile') + 1], join(packageRoot, 'dist', '.tsbuildinfo'));
    assert.equal(tsc.watch, false, 'the compiler is not restarted by what it writes');
    assert.notEqual(tsc.wait_ready, true, 'tsc never says ready');
  });

  test("a user's app: its own project (the nearest tsconfig.json within its package), its .ts sources not watched; a .ts app or a folder without a project has none", () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-eco-app-'));
    try {
      writeFileSync(join(dir, 'package.json'), '{}');
      writeFileSync(join(dir, 'tsconfig.json'), '{}');
      mkdirSync(join(dir, 'dist'));
      const config = (appFile: string) =>
        withConfig({ workers: { app: appFile } }, (file) => loadConfig({ file }));
      const compiled = createEcosystem(config(join(dir, 'dist', 'app.js')), { profile: 'development' });
      const tsc = app(compiled, COMPILER_APP);
      assert.equal(tsc.cwd, dir);
      assert.deepEqual(tsc.args, [
        '-p',
        join(dir, 'tsconfig.json'),
        '--incremental',
        '--noEmitOnError',
        '--watch',
        '--preserveWatchOutput',
      ]);
      const ignored = app(compiled, WORKER_APP).ignore_watch as string[];
      assert.ok(ignored.includes(join(dir, 'dist', '**/*.ts')), ignored.join(', '));
      assert.ok(ignored.includes(join(dir, 'dist', '**/*.tsbuildinfo')), ignored.join(', '));

      // Node runs a .ts app itself where it can: nothing to compile, and its folder is watched as it is.
      assert.equal(workersProject(config(join(dir, 'app.ts')), packageRoot), null);
      // No package.json between the app and the file system's root: no project is guessed.
      const loose = mkdtempSync(join(tmpdir(), 'gh-eco-loose-'));
      try {
        assert.equal(workersProject(config(join(loose, 'app.mjs')), packageRoot), null);
      } finally {
        rmSync(loose, { recursive: true, force: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('profileFromArgv', () => {
  test('reads pm2 --env in both spellings and defaults to production', () => {
    assert.equal(profileFromArgv(['node', 'pm2', 'start', 'ecosystem.config.cjs']), 'production');
    assert.equal(profileFromArgv(['start', 'x', '--env', 'development']), 'development');
    assert.equal(profileFromArgv(['start', 'x', '--env=development']), 'development');
    assert.equal(profileFromArgv(['start', 'x', '--env', 'staging']), 'production');
  });
});

describe('ecosystem.config.cjs', () => {
  const file = join(packageRoot, 'ecosystem.config.cjs');
  // pm2 loads it with require() in its own CLI process; do exactly that in a fresh node.
  function requireEcosystem(configFile: string, nodeFlags: string[] = [], argv: string[] = []): Ecosystem {
    const script = `process.argv.push(...${JSON.stringify(argv)}); process.stdout.write(JSON.stringify(require(${JSON.stringify(file)})))`;
    const result = spawnSync(process.execPath, [...nodeFlags, '-e', script], {
      cwd: tmpdir(),
      encoding: 'utf8',
      env: { PATH: process.env.PATH, GATEHOUSE_CONFIG: configFile },
      timeout: 30_000,
    });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as Ecosystem;
  }

  test('is derived from the file in GATEHOUSE_CONFIG, not a copy of its numbers', () => {
    withConfig(document, (configFile) => {
      const ecosystem = requireEcosystem(configFile);
      assert.deepEqual(ecosystem, createEcosystem(loadConfig({ file: configFile })));
      assert.equal(app(ecosystem, WORKER_APP).instances, 4);
      assert.equal(app(ecosystem, PROXY_APP).instances, 3);
    });
  });

  test('follows pm2 --env development to the development profile', () => {
    withConfig(document, (configFile) => {
      const ecosystem = requireEcosystem(configFile, [], ['--env', 'development']);
      assert.ok(Array.isArray(app(ecosystem, WORKER_APP).watch));
    });
  });

  test('loads on a Node without require(esm) too, through a child process', () => {
    // Node 20.19+ has require(esm) on by default; this flag turns it off, as on older Node.
    withConfig(document, (configFile) => {
      const ecosystem = requireEcosystem(configFile, ['--no-experimental-require-module']);
      assert.deepEqual(ecosystem, createEcosystem(loadConfig({ file: configFile })));
    });
  });

  test('a bad config file fails with every problem listed, before pm2 starts anything', () => {
    withConfig({ workers: { count: 'many', port: 99999 } }, (configFile) => {
      const script = `require(${JSON.stringify(file)})`;
      const result = spawnSync(process.execPath, ['-e', script], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, GATEHOUSE_CONFIG: configFile },
        timeout: 30_000,
      });
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /workers\.count/);
      assert.match(result.stderr, /workers\.port/);
    });
  });
});
