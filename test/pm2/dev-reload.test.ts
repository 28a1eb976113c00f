import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Browser, chromium, type Page } from 'playwright-core';
import { loadConfig, packageRoot } from '../../config/index.js';
import { workersProject } from '../../deploy/pm2/compiler.js';
import { COMPILER_APP, PROXY_APP, WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import { describeLoad, startLoad } from '../helpers/load.js';
import {
  allUpstreamsUp,
  createPm2Sandbox,
  ecosystemFile,
  type Pm2Sandbox,
  run,
  waitFor,
} from '../helpers/pm2.js';
import { requires, which } from '../helpers/system-deps.js';

/**
 * The development loop as a person meets it: the stack under pm2 in the development profile, a
 * page open in Chromium, and a saved change — a template, then the app's TypeScript — shows on
 * that page with nobody touching it. The app is a user's project of its own in a temp folder
 * (package.json, tsconfig.json, app.ts compiled beside itself, the sample site's templates
 * copied into views/), so the test edits nothing of this repository.
 */

// How long a change may take to show on a loaded CI machine (the bound); the usual time is
// printed. The TypeScript steps add tsc's incremental build.
const TEMPLATE_BOUND = 20_000;
const TYPESCRIPT_BOUND = 30_000;

/**
 * The app, in TypeScript: the sample site with its templates in views/ here, plus GET /hello, a page
 * this file's `version` shows. It declares the two globals it uses rather than load the DOM library
 * or Node's types: tsc then reads little more than this file, in a second or two.
 */
function appSource(dir: string, version: string, type = 'string'): string {
  const site = JSON.stringify(join(packageRoot, 'dist', 'app', 'site', 'index.js'));
  return `import { createSite } from ${site};

declare const URL: new (url: string) => { pathname: string };
declare const Response: new (body: string, init: { headers: Record<string, string> }) => unknown;

const version: ${type} = ${JSON.stringify(version)};
const site = createSite({ diagnostics: true, bodyLimit: 1048576, viewsDir: ${JSON.stringify(join(dir, 'views'))} });

export default {
  fetch(request: { url: string }, context: unknown): unknown {
    if (new URL(request.url).pathname === '/hello') {
      return new Response(
        \`<!doctype html><html><head><title>hello</title></head><body><p id="hello">hello from \${version}</p></body></html>\`,
        { headers: { 'content-type': 'text/html; charset=utf-8' } },
      );
    }
    return site.fetch(request, context);
  },
};
`;
}

const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Marks the document: a page that still has the mark was not reloaded. */
function mark(page: Page): Promise<void> {
  return page.evaluate(() => {
    (window as unknown as { untouched?: boolean }).untouched = true;
  });
}

function untouched(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { untouched?: boolean }).untouched === true);
}

describe('development loop: a saved change reaches the page open in Chromium, with no action', {
  ...requires('chromium'),
  timeout: 300_000,
}, () => {
  let sb: Pm2Sandbox;
  let appDir: string;
  let browser: Browser | undefined;
  let page: Page;
  let setup = '';

  const compilerLog = () => {
    try {
      return readFileSync(join(sb.home, 'logs', `${COMPILER_APP}-out.log`), 'utf8');
    } catch {
      return '';
    }
  };
  const workerPids = async () =>
    (await sb.list())
      .filter((p) => p.name === WORKER_APP)
      .map((p) => p.pid)
      .sort();

  before(async () => {
    appDir = mkdtempSync(join(tmpdir(), 'gh-devapp-'));
    writeFileSync(join(appDir, 'package.json'), '{ "type": "module", "private": true }\n');
    writeFileSync(
      join(appDir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022'],
          strict: true,
          // gatehouse's dist/ has no declarations: its import is `any` here.
          noImplicitAny: false,
          types: [],
        },
        include: ['app.ts'],
      }),
    );
    writeFileSync(join(appDir, 'app.ts'), appSource(appDir, 'v1'));
    cpSync(join(packageRoot, 'app', 'site', 'views'), join(appDir, 'views'), { recursive: true });
    sb = await createPm2Sandbox({
      workers: 2,
      config: { access_log: { path: 'off' }, workers: { app: join(appDir, 'app.js') } },
    });
    // The app's first build, as its developer made it before starting: the watcher then starts
    // from its build info and writes nothing until a source changes.
    const project = workersProject(loadConfig({ file: sb.configFile }), packageRoot);
    assert.ok(project, 'the app folder is a TypeScript project of its own');
    assert.equal(project.tsconfig, join(appDir, 'tsconfig.json'));
    const t0 = Date.now();
    const built = await run(process.execPath, [project.tsc, ...project.args], {
      cwd: appDir,
      timeout: 120_000,
    });
    assert.equal(built.code, 0, built.stdout + built.stderr);
    const t1 = Date.now();
    // What `gatehouse up` sets for its daemon: pm2's watcher restarts one worker at a time.
    sb.env.PM2_CONCURRENT_ACTIONS = '1';
    const started = await sb.pm2(['start', ecosystemFile, '--env', 'development']);
    assert.equal(started.code, 0, `${started.stdout}\n${started.stderr}`);
    await sb.waitOnline(WORKER_APP, 2);
    await sb.waitOnline(PROXY_APP, 1);
    await sb.waitOnline(COMPILER_APP, 1);
    await allUpstreamsUp(sb.statusUrl, 2);
    const t2 = Date.now();
    browser = await chromium.launch({ executablePath: which('chromium')!, args: chromiumArgs });
    page = await browser.newPage();
    setup = `the app's first tsc build ${t1 - t0} ms, the stack up ${t2 - t1} ms, Chromium ${Date.now() - t2} ms`;
  });

  after(async () => {
    await browser?.close();
    await sb?.destroy();
    if (appDir) rmSync(appDir, { recursive: true, force: true });
  });

  test('a template edit: the open sign-in page shows the new text by itself', async (t) => {
    t.diagnostic(setup);
    await page.goto(`${sb.proxyUrl}/signin`);
    assert.equal(await page.locator('h1').textContent(), 'Sign in');
    assert.equal(
      await page.locator('script[src*="/dev-reload.js"]').count(),
      1,
      'the page loads the reload script',
    );
    await mark(page);
    const file = join(appDir, 'views', 'signin.eta');
    const edited = Date.now();
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('<h1>Sign in</h1>', '<h1>Sign in to the edited site</h1>'),
    );
    await page
      .locator('h1', { hasText: 'Sign in to the edited site' })
      .waitFor({ timeout: TEMPLATE_BOUND })
      .catch((err: Error) => {
        throw new Error(`${err.message}\n${sb.logs()}`);
      });
    t.diagnostic(`template edit → the open page showed it in ${Date.now() - edited} ms`);
    assert.equal(await untouched(page), false, 'a new document: the page reloaded itself');
  });

  test('a TypeScript edit to the app: compiled on save, the open page shows it; a compile error changes nothing', async (t) => {
    const waited = Date.now();
    await waitFor(
      'tsc --watch to finish its first pass',
      async () => /Watching for file changes/.test(compilerLog()),
      120_000,
    );
    t.diagnostic(`tsc --watch had its first pass done ${Date.now() - waited} ms into this test`);
    assert.doesNotMatch(compilerLog(), /error TS/);
    await page.goto(`${sb.proxyUrl}/hello`);
    assert.equal(await page.locator('#hello').textContent(), 'hello from v1');
    await mark(page);
    const edited = Date.now();
    writeFileSync(join(appDir, 'app.ts'), appSource(appDir, 'v2'));
    await page
      .locator('#hello', { hasText: 'hello from v2' })
      .waitFor({ timeout: TYPESCRIPT_BOUND })
      .catch((err: Error) => {
        throw new Error(`${err.message}\n${compilerLog()}\n${sb.logs()}`);
      });
    t.diagnostic(
      `app.ts edit → compiled, workers restarted, the open page showed it in ${Date.now() - edited} ms`,
    );
    assert.equal(await untouched(page), false);

    // A type error: tsc says so and writes nothing; the workers keep serving v2, the page stays.
    // (The page reloaded as soon as only new workers were in the pool: the last one may still be
    // on its way back.)
    await sb.waitOnline(WORKER_APP, 2);
    await allUpstreamsUp(sb.statusUrl, 2);
    await mark(page);
    const pids = await workerPids();
    const compiled = readFileSync(join(appDir, 'app.js'), 'utf8');
    const errorsBefore = (compilerLog().match(/error TS2322/g) ?? []).length;
    writeFileSync(join(appDir, 'app.ts'), appSource(appDir, 'v3', 'number'));
    await waitFor(
      'tsc to report the type error',
      async () => (compilerLog().match(/error TS2322/g) ?? []).length > errorsBefore,
      TYPESCRIPT_BOUND,
    );
    // pm2's watcher would have acted within its 1 s delay on anything written.
    await sleep(2000);
    assert.match(
      compilerLog(),
      /app\.ts\(\d+,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/,
    );
    assert.equal(readFileSync(join(appDir, 'app.js'), 'utf8'), compiled, 'nothing was written');
    assert.deepEqual(await workerPids(), pids, 'no worker restarted');
    assert.ok((await sb.list()).some((p) => p.name === COMPILER_APP && p.pm2_env.status === 'online'));
    assert.equal(await untouched(page), true, 'the page did not reload');
    assert.equal(await page.locator('#hello').textContent(), 'hello from v2');

    // The fix goes through, under a little load: no request fails while the workers restart.
    const load = startLoad({ url: sb.proxyUrl, connections: 4, duration: 120_000 });
    try {
      const fixed = Date.now();
      writeFileSync(join(appDir, 'app.ts'), appSource(appDir, 'v4'));
      await page.locator('#hello', { hasText: 'hello from v4' }).waitFor({ timeout: TYPESCRIPT_BOUND * 2 });
      t.diagnostic(`the fix → the open page showed it in ${Date.now() - fixed} ms (with load)`);
    } finally {
      const report = await load.stop();
      t.diagnostic(describeLoad('the fix, restarting both workers', report));
      assert.ok(report.total > 0, 'requests ran');
      assert.equal(report.failed, 0, `${sb.explain(report.failedResults)}\n${sb.logs()}`);
    }
  });
});
