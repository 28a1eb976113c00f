import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseDocument } from 'yaml';
import { nodeRunsTypeScript, TYPESCRIPT_ADVICE } from '../../app/typescript.js';
import { packageRoot } from '../../config/index.js';
import { daemonPid } from '../../deploy/pm2/daemon.js';
import { childEnv } from '../helpers/child.js';
import { freePortRange, run, waitFor } from '../helpers/pm2.js';

// gatehouse as a dependency of someone else's project: `npx gatehouse init` there, then
// `npm start` (gatehouse up --config gatehouse.yaml) from that folder. The package is installed as
// npm installs it: its published files under node_modules/gatehouse, compiled, no sources.

/** The files package.json publishes ("files", and package.json), copied into `project`'s node_modules. */
function install(project: string): string {
  const target = join(project, 'node_modules', 'gatehouse');
  const { files } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as {
    files: string[];
  };
  for (const path of [...files, 'package.json']) {
    cpSync(join(packageRoot, path), join(target, path), {
      recursive: true,
      // The compiled tests and benchmarks are no part of what runs.
      filter: (source) => !/[/\\]dist[/\\](test|bench)([/\\]|$)/.test(source),
    });
  }
  // Its dependencies, where npm would have put them for it.
  symlinkSync(join(packageRoot, 'node_modules'), join(target, 'node_modules'), 'dir');
  return join(target, 'bin', 'gatehouse.js');
}

interface Project {
  dir: string;
  bin: string;
  /** `gatehouse ARGS` run from `cwd` (default: the project folder), to completion. */
  gatehouse(args: string[], cwd?: string): ReturnType<typeof run>;
}

const projects: Project[] = [];
const env = childEnv({}, ['PM2_HOME', 'NODE_ENV']);

function createProject(files: Record<string, string>): Project {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'gh-installed-')));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const bin = install(dir);
  const project: Project = {
    dir,
    bin,
    gatehouse: (args, cwd = dir) => run(process.execPath, [bin, ...args], { env, cwd, timeout: 60_000 }),
  };
  projects.push(project);
  return project;
}

/** Free ports in the config init wrote (8080 and friends may be taken here), two workers. */
async function freeTheirPorts(project: Project): Promise<{ proxy: number; workers: number }> {
  const base = await freePortRange(4);
  const file = join(project.dir, 'gatehouse.yaml');
  const doc = parseDocument(readFileSync(file, 'utf8'));
  doc.setIn(['listen'], `127.0.0.1:${base}`);
  doc.setIn(['status', 'listen'], `127.0.0.1:${base + 1}`);
  doc.setIn(['workers', 'port'], base + 2);
  doc.setIn(['workers', 'count'], 2);
  doc.setIn(['access_log'], { path: 'off' });
  writeFileSync(file, doc.toString());
  return { proxy: base, workers: base + 2 };
}

interface Up {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** `gatehouse up --config gatehouse.yaml` from the project folder, as `npm start` runs it there. */
function startUp(project: Project): Up {
  const child = spawn(process.execPath, [project.bin, 'up', '--config', 'gatehouse.yaml'], {
    cwd: project.dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (text: string) => {
    output += text;
  };
  child.stdout!.setEncoding('utf8').on('data', collect);
  child.stderr!.setEncoding('utf8').on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

function untilAnswering(up: Up): Promise<RegExpExecArray> {
  return waitFor(
    '"gatehouse: http://..." from gatehouse up',
    async () => {
      if (up.child.exitCode !== null) throw new Error(`gatehouse up exited:\n${up.output()}`);
      return /^gatehouse: (http:\/\/\S+) \(status/m.exec(up.output());
    },
    120_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${up.output()}`);
  });
}

const APP = `'use strict';
module.exports = (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ cwd: process.cwd(), url: req.url }));
};
`;

describe('gatehouse installed in a project: init, then up from its folder', { timeout: 240_000 }, () => {
  after(async () => {
    for (const project of projects) {
      const home = join(project.dir, '.pm2');
      if (daemonPid(home) !== null) await project.gatehouse(['down']).catch(() => undefined);
      const pid = daemonPid(home);
      if (pid !== null) process.kill(pid, 'SIGKILL');
      rmSync(project.dir, { recursive: true, force: true });
    }
  });

  test("runs the project's app from the project folder, keeps its pm2 in the project, and gatehouse down finds it there", async (t) => {
    const project = createProject({
      'package.json': `${JSON.stringify({ name: 'shop', main: 'app.js', dependencies: { gatehouse: '*' } }, null, 2)}\n`,
      'app.js': APP,
      'src/routes/.keep': '',
    });
    const init = await project.gatehouse(['init']);
    assert.equal(init.code, 0, `${init.stdout}\n${init.stderr}`);
    // The schema ships with the package: an editor finds it from the file init wrote.
    assert.match(
      readFileSync(join(project.dir, 'gatehouse.yaml'), 'utf8'),
      /^# yaml-language-server: \$schema=node_modules\/gatehouse\/gatehouse\.schema\.json$/m,
    );
    const { proxy } = await freeTheirPorts(project);

    const up = startUp(project);
    t.after(() => {
      if (up.child.exitCode === null) up.child.kill('SIGKILL');
    });
    const line = await untilAnswering(up);
    t.diagnostic(line[0]);
    assert.equal(line[1], `http://127.0.0.1:${proxy}/`);
    assert.match(up.output(), /^gatehouse: an installed package \(no tsconfig\.json\), not compiling$/m);
    assert.match(up.output(), /^gatehouse: starting 2 workers and the proxy \(pm2 home \.pm2\)$/m);
    const res = await fetch(`${line[1]}orders`);
    assert.equal(res.status, 200);
    assert.deepEqual(
      await res.json(),
      { cwd: project.dir, url: '/orders' },
      'the workers run in the project',
    );
    const home = join(project.dir, '.pm2');
    assert.notEqual(daemonPid(home), null, "the stack's pm2 lives in the project folder");
    assert.equal(existsSync(join(dirname(project.bin), '..', '.pm2')), false, 'not inside node_modules');

    // The terminal is closed outright: the stack stays up, and `npm stop` (gatehouse down) run
    // anywhere in the project finds it.
    up.child.kill('SIGKILL');
    await up.exited;
    assert.equal((await fetch(`${line[1]}still`)).status, 200);
    const down = await project.gatehouse(['down'], join(project.dir, 'src', 'routes'));
    assert.equal(down.code, 0, `${down.stdout}\n${down.stderr}`);
    assert.equal(down.stdout, `gatehouse: stopped the stack under ${home}\n`);
    assert.equal(daemonPid(home), null);
  });

  test(`a TypeScript app on Node ${process.version}: ${nodeRunsTypeScript() ? 'served by up as it is' : 'up stops with the one line that says what to do'}`, async (t) => {
    const project = createProject({
      'package.json': `${JSON.stringify({ name: 'typed', type: 'module' }, null, 2)}\n`,
      'src/server.ts': readFileSync(
        join(packageRoot, 'test', 'fixtures', 'apps', 'typescript', 'server.ts'),
        'utf8',
      ),
    });
    const init = await project.gatehouse(['init']);
    assert.equal(init.code, 0, `${init.stdout}\n${init.stderr}`);
    assert.match(init.stdout, /the app module is src\/server\.ts/);
    await freeTheirPorts(project);
    const up = startUp(project);
    t.after(() => {
      if (up.child.exitCode === null) up.child.kill('SIGKILL');
    });
    if (nodeRunsTypeScript()) {
      const line = await untilAnswering(up);
      const res = await fetch(`${line[1]}typed`);
      const { typescript } = process.features as { typescript?: string };
      assert.deepEqual(await res.json(), { typescript, path: '/typed' });
      up.child.kill('SIGINT');
      assert.equal(await up.exited, 0, up.output());
    } else {
      assert.equal(await up.exited, 1, up.output());
      const last = up.output().trim().split('\n').at(-1);
      assert.equal(
        last,
        `gatehouse up: gatehouse-worker 0 exited with code 1 while starting: cannot load the app; exiting: ${join(project.dir, 'src', 'server.ts')} is TypeScript, which Node ${process.version} cannot run: ${TYPESCRIPT_ADVICE}; stopped everything`,
      );
    }
    assert.equal(daemonPid(join(project.dir, '.pm2')), null, 'nothing left running');
  });
});
