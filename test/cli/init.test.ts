import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { parse, parseDocument } from 'yaml';
import { nodeRunsTypeScript, TYPESCRIPT_ADVICE } from '../../app/typescript.js';
import { defaultConfigFile, loadConfig, packageRoot } from '../../config/index.js';
import { appModuleWarnings, findAppModule } from '../../deploy/init/app-module.js';
import { gatehouseBin } from '../helpers/child.js';
import { runFailingWorker, startWorker } from '../helpers/worker-process.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `gatehouse ARGS` run in `cwd`, as a user runs it in the app's folder. */
function gatehouse(cwd: string, ...args: string[]): Result {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['GATEHOUSE_CONFIG', 'NODE_OPTIONS', 'NODE_TEST_CONTEXT']) delete env[name];
  const result = spawnSync(process.execPath, [gatehouseBin, ...args], {
    cwd,
    env,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A temp folder holding `files` (path → text), removed after the test. */
function project(t: { after(fn: () => void): void }, files: Record<string, string>): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'gh-init-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');
const describeRun = (r: Result) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

/** An Express-shaped app without Express: a (req, res, next) function, exported the CommonJS way. */
const EXPRESS_LIKE = `'use strict';
function app(req, res, next) {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ express: true, url: req.url, cwd: process.cwd() }));
}
module.exports = app;
`;

/** package.json as npm init writes it (two-space indent), with `extra` fields. */
function packageJson(extra: Record<string, unknown>, indent: number | string = 2): string {
  return `${JSON.stringify({ name: 'shop', version: '1.0.0', ...extra }, null, indent)}\n`;
}

describe('gatehouse init in an Express-like app folder', { timeout: 60_000 }, () => {
  test('writes a commented gatehouse.yaml that gatehouse check passes, adds the npm scripts, prints what to run next', async (t) => {
    const dir = project(t, {
      'package.json': packageJson(
        { main: 'app.js', scripts: { test: 'node --test' }, dependencies: { express: '^4.19.2' } },
        4,
      ),
      'app.js': EXPRESS_LIKE,
      '.gitignore': 'node_modules',
    });
    const result = gatehouse(dir, 'init');
    t.diagnostic(result.stdout);
    assert.equal(result.code, 0, describeRun(result));
    assert.equal(result.stderr, '', 'no warning for a module that exports its app');
    const lines = result.stdout.split('\n');
    assert.equal(lines[0], 'gatehouse init: the app module is app.js (package.json "main")');
    assert.equal(lines[1], `gatehouse init: wrote gatehouse.yaml in ${dir}`);
    assert.equal(
      lines[2],
      'gatehouse init: package.json: added the scripts start (gatehouse up --config gatehouse.yaml) and stop (gatehouse down)',
    );
    assert.equal(lines[3], 'gatehouse init: .gitignore: added .pm2/ (where gatehouse up keeps its pm2)');

    // The config: the app, a worker per core, the default ports, each key with default.yaml's comment.
    const config = loadConfig({ file: join(dir, 'gatehouse.yaml') });
    assert.equal(config.workers.app, 'app.js');
    assert.equal(config.workers.count, availableParallelism());
    const defaults = loadConfig({ env: {} });
    assert.deepEqual([config.listen, config.status.listen], [defaults.listen, defaults.status.listen]);
    assert.equal(config.workers.port, defaults.workers.port);
    const written = parseDocument(read(dir, 'gatehouse.yaml'));
    const base = parseDocument(readFileSync(defaultConfigFile, 'utf8'));
    for (const path of ['listen', 'status.listen', 'workers.port', 'workers.app']) {
      const comment = (node: unknown) => (node as { comment?: string } | undefined)?.comment?.trim();
      const key = path.split('.');
      assert.ok(comment(base.getIn(key, true)), `default.yaml comments ${path}`);
      assert.equal(comment(written.getIn(key, true)), comment(base.getIn(key, true)), path);
    }
    assert.match(
      read(dir, 'gatehouse.yaml'),
      /count: \d+ # pre-started workers \(gunicorn -w\): one per core/,
    );
    const check = gatehouse(dir, 'check', '--config', 'gatehouse.yaml');
    assert.equal(check.code, 0, describeRun(check));
    assert.match(check.stdout, new RegExp(`^${join(dir, 'gatehouse.yaml')}: ok$`, 'm'));

    // package.json: the scripts added after the project's own, its four-space indent kept.
    assert.equal(
      read(dir, 'package.json'),
      packageJson(
        {
          main: 'app.js',
          scripts: {
            test: 'node --test',
            start: 'gatehouse up --config gatehouse.yaml',
            stop: 'gatehouse down',
          },
          dependencies: { express: '^4.19.2' },
        },
        4,
      ),
    );
    assert.equal(read(dir, '.gitignore'), 'node_modules\n.pm2/\n');

    // What to run next: install, check, start, the development profile, stop, nginx, compose.
    const next = result.stdout.slice(result.stdout.indexOf('\nNext:\n'));
    for (const command of [
      'npm install gatehouse',
      'npx gatehouse check --config gatehouse.yaml',
      'npm start',
      'npx gatehouse up --config gatehouse.yaml --env development',
      'npm stop',
      'npx gatehouse nginx --config gatehouse.yaml -o gatehouse.nginx.conf',
      'npx gatehouse init --compose',
    ]) {
      assert.match(
        next,
        new RegExp(`^ {2}${command.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} {2,}\\S`, 'm'),
        command,
      );
    }
    assert.match(next, /http:\/\/127\.0\.0\.1:8080\//);

    // The nginx render it names works on the file as written.
    const nginx = gatehouse(dir, 'nginx', '--config', 'gatehouse.yaml');
    assert.equal(nginx.code, 0, describeRun(nginx));
    assert.match(nginx.stdout, /upstream /);

    // Served as written: the relative app path from the project folder, where the workers run.
    const worker = await startWorker({ config: join(dir, 'gatehouse.yaml'), cwd: dir });
    t.after(() => worker.stop());
    const res = await fetch(`http://127.0.0.1:${worker.port}/hello`);
    assert.deepEqual(await res.json(), { express: true, url: '/hello', cwd: dir });
  });

  test('an existing gatehouse.yaml: one line and exit 1 without --force, nothing written; overwritten with it', (t) => {
    const mine = 'workers: { count: 7 }\n';
    const dir = project(t, {
      'package.json': packageJson({ main: 'app.js' }),
      'app.js': EXPRESS_LIKE,
      'gatehouse.yaml': mine,
    });
    const refused = gatehouse(dir, 'init');
    assert.equal(refused.code, 1, describeRun(refused));
    assert.equal(refused.stdout, '');
    assert.equal(
      refused.stderr,
      `gatehouse init: gatehouse.yaml already exists in ${dir}; --force overwrites it\n`,
    );
    assert.equal(read(dir, 'gatehouse.yaml'), mine);
    assert.equal(read(dir, 'package.json'), packageJson({ main: 'app.js' }), 'no scripts added either');

    const forced = gatehouse(dir, 'init', '--force');
    assert.equal(forced.code, 0, describeRun(forced));
    assert.equal(loadConfig({ file: join(dir, 'gatehouse.yaml') }).workers.app, 'app.js');
    assert.notEqual(read(dir, 'gatehouse.yaml'), mine);
  });

  test('scripts the project has are kept, the missing one added; next names the command for the kept one', (t) => {
    const dir = project(t, {
      'package.json': packageJson({
        scripts: { start: 'node server.js' },
        dependencies: { gatehouse: '^0.1.0' },
      }),
      'server.js': EXPRESS_LIKE,
    });
    const result = gatehouse(dir, 'init');
    assert.equal(result.code, 0, describeRun(result));
    assert.match(result.stdout, /^gatehouse init: the app module is server\.js \(a common name\)$/m);
    assert.match(result.stdout, /^gatehouse init: package\.json: added the script stop \(gatehouse down\)$/m);
    assert.match(
      result.stdout,
      /^gatehouse init: package\.json: kept your start script \(node server\.js\)$/m,
    );
    assert.deepEqual((JSON.parse(read(dir, 'package.json')) as { scripts: unknown }).scripts, {
      start: 'node server.js',
      stop: 'gatehouse down',
    });
    assert.match(
      result.stdout,
      /^ {2}npx gatehouse up --config gatehouse\.yaml {2,}\d+ workers and the proxy/m,
    );
    assert.doesNotMatch(
      result.stdout,
      /npm install gatehouse|npm start/,
      'installed already; start is theirs',
    );
  });

  test('no app module to be found, or an --app that is not there: one line naming --app, exit 1, nothing written', (t) => {
    const dir = project(t, {
      'package.json': packageJson({ main: 'dist/index.js' }),
      'README.md': '# shop\n',
    });
    const none = gatehouse(dir, 'init');
    assert.equal(none.code, 1, describeRun(none));
    assert.equal(none.stderr.split('\n').filter(Boolean).length, 1, none.stderr);
    assert.match(
      none.stderr,
      /^gatehouse init: no app module found in .*: package\.json "main" \(dist\/index\.js\) names no file there, and none of app\.js, .* exists; say which with --app MODULE\n$/,
    );
    const missing = gatehouse(dir, 'init', '--app', 'lib/handler.js');
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stderr,
      `gatehouse init: --app lib/handler.js: there is no ${join(dir, 'lib', 'handler.js')}\n`,
    );
    assert.equal(spawnSync('ls', ['-A', dir], { encoding: 'utf8' }).stdout, 'README.md\npackage.json\n');
  });

  test('--app and --dir: the module named, from that folder; a folder without package.json gets no scripts', (t) => {
    const dir = project(t, { 'lib/handler.mjs': 'export default () => new Response("ok");\n' });
    const result = gatehouse(tmpdir(), 'init', '--dir', dir, '--app', 'lib/handler.mjs');
    assert.equal(result.code, 0, describeRun(result));
    assert.match(result.stdout, /^gatehouse init: the app module is lib\/handler\.mjs \(--app\)$/m);
    assert.match(result.stdout, /^gatehouse init: no package\.json: no npm scripts added$/m);
    assert.equal(loadConfig({ file: join(dir, 'gatehouse.yaml') }).workers.app, 'lib/handler.mjs');
  });
});

describe(`gatehouse init in a TypeScript app folder (Node ${process.version})`, { timeout: 60_000 }, () => {
  test('picks src/app.ts; where Node strips types it is served as it is, elsewhere init and the worker say what to do', async (t) => {
    const dir = project(t, {
      'package.json': packageJson({ type: 'module' }),
      'src/app.ts': readFileSync(
        join(packageRoot, 'test', 'fixtures', 'apps', 'typescript', 'server.ts'),
        'utf8',
      ),
    });
    const result = gatehouse(dir, 'init');
    assert.equal(result.code, 0, describeRun(result));
    assert.match(result.stdout, /^gatehouse init: the app module is src\/app\.ts \(a common name\)$/m);
    assert.equal(gatehouse(dir, 'check', '--config', 'gatehouse.yaml').code, 0);
    const config = join(dir, 'gatehouse.yaml');
    if (nodeRunsTypeScript()) {
      assert.equal(result.stderr, '');
      const worker = await startWorker({ config, cwd: dir });
      t.after(() => worker.stop());
      const res = await fetch(`http://127.0.0.1:${worker.port}/ts`);
      assert.equal(((await res.json()) as { path: string }).path, '/ts');
    } else {
      const warning = `gatehouse init: warning: src/app.ts is TypeScript, which Node ${process.version} cannot run: ${TYPESCRIPT_ADVICE}\n`;
      assert.equal(result.stderr, warning);
      const { exit, errors, describe } = await runFailingWorker({ config, cwd: dir });
      assert.equal(exit.code, 1, describe());
      assert.equal(
        (errors[0]?.err as { message?: string } | undefined)?.message,
        `${join(dir, 'src', 'app.ts')} is TypeScript, which Node ${process.version} cannot run: ${TYPESCRIPT_ADVICE}`,
      );
    }
  });
});

describe('gatehouse init --compose', { timeout: 60_000 }, () => {
  const repoCompose = parse(readFileSync(join(packageRoot, 'docker-compose.yml'), 'utf8'), {
    merge: true,
  }) as {
    services: Record<string, { healthcheck: { test: string[] } }>;
  };

  test('writes docker-compose.yml and its container config: valid for compose (offline), the same stack in containers', (t) => {
    const dir = project(t, { 'package.json': packageJson({ main: 'app.js' }), 'app.js': EXPRESS_LIKE });
    const result = gatehouse(dir, 'init', '--compose');
    assert.equal(result.code, 0, describeRun(result));
    assert.match(
      result.stdout,
      /^gatehouse init: wrote gatehouse\.yaml, docker-compose\.yml, gatehouse\.compose\.yaml in /m,
    );
    assert.match(result.stdout, /^ {2}docker compose up -d {2,}the stack in containers/m);

    const text = read(dir, 'docker-compose.yml');
    const compose = parse(text, { merge: true }) as Record<string, unknown> & {
      services: Record<string, Record<string, unknown> & { healthcheck: { test: string[] } }>;
    };
    assert.equal(
      compose.version,
      undefined,
      'no version key: both compose versions read the Compose Specification',
    );
    const { app, proxy } = compose.services;
    assert.ok(app && proxy, 'services app and proxy');
    assert.deepEqual(app.command, ['worker']);
    assert.deepEqual(proxy.command, ['proxy']);
    assert.deepEqual(app.deploy, { replicas: availableParallelism() });
    assert.deepEqual(app.volumes, ['.:/app:ro']);
    assert.deepEqual(app.entrypoint, ['node', 'node_modules/gatehouse/bin/gatehouse.js']);
    assert.deepEqual(proxy.depends_on, { app: { condition: 'service_healthy' } });
    // Compose interpolates these; the defaults are what a plain `docker compose up` publishes.
    const variable = (name: string, fallback: string) => `\${${name}:-${fallback}}`;
    assert.deepEqual(proxy.ports, [
      `${variable('GATEHOUSE_BIND', '127.0.0.1')}:${variable('GATEHOUSE_PORT', '8080')}:8080`,
    ]);
    for (const service of [app, proxy]) {
      assert.equal(service.init, true);
      assert.deepEqual(
        service.healthcheck.test,
        repoCompose.services.app!.healthcheck.test,
        "the image's probe",
      );
      assert.equal(
        (service.environment as Record<string, string>).GATEHOUSE_CONFIG,
        '/app/gatehouse.compose.yaml',
      );
    }

    // What every container loads: the app of gatehouse.yaml, and the listeners and DNS pool of
    // gatehouse's own compose config (config/compose.yaml, which the package does not ship).
    const inside = loadConfig({ file: join(dir, 'gatehouse.compose.yaml') });
    assert.equal(inside.workers.app, loadConfig({ file: join(dir, 'gatehouse.yaml') }).workers.app);
    const ours = loadConfig({ file: join(packageRoot, 'config', 'compose.yaml') });
    const containerSide = (c: typeof ours) => [
      c.listen,
      c.status.listen,
      c.workers.host,
      c.workers.port,
      c.upstream.resolve,
    ];
    assert.deepEqual(containerSide(inside), containerSide(ours));
    assert.equal(gatehouse(dir, 'check', '--config', 'gatehouse.compose.yaml').code, 0);

    // docker-compose itself, offline: `config` parses, interpolates and validates without an engine.
    const which = spawnSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' });
    if (which.status === 0) {
      const checked = spawnSync('docker-compose', ['-f', join(dir, 'docker-compose.yml'), 'config', '-q'], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(checked.status, 0, checked.stderr);
    } else {
      t.diagnostic('docker-compose is not installed: its own validation left out, the shape checked above');
    }
  });

  test('a compose file of another name is there: the command names ours with -f', (t) => {
    const dir = project(t, { 'app.js': EXPRESS_LIKE, 'compose.yaml': 'services: {}\n' });
    const result = gatehouse(dir, 'init', '--compose');
    assert.equal(result.code, 0, describeRun(result));
    assert.match(result.stdout, /^ {2}docker compose -f docker-compose\.yml up -d {2,}/m);
  });

  test('an existing docker-compose.yml is refused like gatehouse.yaml, both named in one line', (t) => {
    const dir = project(t, {
      'app.js': EXPRESS_LIKE,
      'docker-compose.yml': 'services: {}\n',
      'gatehouse.yaml': '',
    });
    const result = gatehouse(dir, 'init', '--compose');
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `gatehouse init: gatehouse.yaml and docker-compose.yml already exist in ${dir}; --force overwrites them\n`,
    );
    assert.equal(read(dir, 'docker-compose.yml'), 'services: {}\n');
  });
});

describe('finding the app module', () => {
  test('package.json exports, then main (as Node resolves it), then app, server, index in . and src/', (t) => {
    const dir = project(t, {
      'app.js': '',
      'server.js': '',
      'src/index.ts': '',
      'lib/main.js': '',
      'dist/esm/index.mjs': '',
    });
    const pick = (pkg: Record<string, unknown> | null) => findAppModule(dir, pkg).found;
    assert.deepEqual(
      pick({ exports: { '.': { import: './dist/esm/index.mjs', require: './lib/main.js' } } }),
      {
        module: 'dist/esm/index.mjs',
        source: 'package.json "exports"',
      },
    );
    assert.equal(pick({ exports: './lib/main.js', main: 'server.js' })?.module, 'lib/main.js');
    assert.equal(pick({ main: 'lib/main' })?.module, 'lib/main.js', 'main without its extension');
    assert.equal(pick({ main: 'lib' })?.module, 'app.js', 'no lib/index.js: on to the common names');
    assert.deepEqual(findAppModule(dir, { main: 'dist/server.js' }), {
      found: { module: 'app.js', source: 'a common name' },
      missing: ['package.json "main" (dist/server.js)'],
    });
    rmSync(join(dir, 'app.js'));
    assert.equal(pick(null)?.module, 'server.js');
    rmSync(join(dir, 'server.js'));
    assert.equal(pick(null)?.module, 'src/index.ts');
  });

  test('warnings: an app that only listens, one that exports and listens; none for one that exports', (t) => {
    const dir = project(t, {
      'listens.js': "const app = require('express')();\napp.listen(3000);\n",
      'both.js': "const app = require('express')();\nmodule.exports = app;\napp.listen(3000);\n",
      'exports.mjs': 'export default (request) => new Response("ok");\n',
    });
    assert.match(
      appModuleWarnings(dir, 'listens.js')[0] ?? '',
      /does not seem to export the app: .* instead of calling listen\(\)$/,
    );
    assert.match(
      appModuleWarnings(dir, 'both.js')[0] ?? '',
      /seems to call listen\(\) too: that would run in every worker/,
    );
    assert.deepEqual(appModuleWarnings(dir, 'exports.mjs'), []);
  });
});

describe('gatehouse --help', () => {
  test('lists init, and init --help names its options', () => {
    assert.match(
      gatehouse(tmpdir(), '--help').stdout,
      /^ {2}init \[options\] +set gatehouse up in an existing app's folder/m,
    );
    const help = gatehouse(tmpdir(), 'init', '--help').stdout;
    for (const option of ['--app <module>', '--dir <dir>', '--compose', '--force'])
      assert.ok(help.includes(option), option);
  });
});
