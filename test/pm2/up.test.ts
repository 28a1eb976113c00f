import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { daemonPid } from '../../deploy/pm2/daemon.js';
import { pidRuns } from '../../process/pid-file.js';
import { createPm2Sandbox, fetchStatus, type Pm2Sandbox, run, waitFor } from '../helpers/pm2.js';

const gatehouse = join(packageRoot, 'bin', 'gatehouse.js');

interface Running {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function upArgs(sb: Pm2Sandbox, ...extra: string[]): string[] {
  return [gatehouse, 'up', '--config', sb.configFile, '--pm2-home', sb.home, ...extra];
}

function startUp(sb: Pm2Sandbox): Running {
  const child = spawn(process.execPath, upArgs(sb), {
    cwd: packageRoot,
    env: sb.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('gatehouse up (what npm start runs)', { timeout: 180_000 }, () => {
  let sb: Pm2Sandbox;
  let up: Running | undefined;

  after(async () => {
    if (up && up.child.exitCode === null) up.child.kill('SIGKILL');
    await sb?.destroy();
  });

  test('brings the stack up in the foreground, says where it answers, and Ctrl-C stops all of it', async (t) => {
    sb = await createPm2Sandbox({ workers: 2, config: { access_log: { path: 'off' } } });
    up = startUp(sb);
    const running = up;
    const line = await waitFor(
      '"gatehouse: http://..." from gatehouse up',
      async () => /gatehouse: (http:\/\/\S+) \(status (http:\/\/\S+)\)/.exec(running.output()),
      120_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${running.output()}`);
    });
    t.diagnostic(line[0]);
    assert.equal(line[1], `${sb.proxyUrl}/`);
    assert.equal(line[2], sb.statusUrl);

    const home = await fetch(line[1]!);
    assert.equal(home.status, 200);
    const status = await fetch(line[2]!, { headers: { accept: 'application/json' } });
    assert.equal(((await status.json()) as { upstreams: unknown[] }).upstreams.length, 2);

    // Calm: its own few lines and the processes' output, nothing of pm2's (banner, table, [PM2]).
    const output = running.output();
    assert.doesNotMatch(output, /\[PM2\]|Runtime Edition|PM2 is a Production|┌/);
    // npm test built a moment ago: nothing to compile.
    assert.match(output, /^gatehouse: build up to date, not compiling$/m);
    // Each upstream names its worker once a health probe answered (the status JSON and page).
    const named = await waitFor('every upstream to name its worker', async () => {
      const snapshot = await fetchStatus(sb.statusUrl);
      return snapshot?.upstreams.every((u) => u.worker !== null) ? snapshot : null;
    });
    assert.deepEqual(
      named.upstreams.map((u) => [u.worker?.hostname, u.worker?.port]).sort(),
      sb.workerPorts.map((port) => [hostname(), port]),
    );

    // Its pm2 is the one `gatehouse status` finds, and a second `up` on it is refused.
    // A worker that dies once the stack is up is pm2's to restart; up says so and keeps running.
    const victim = (await sb.list()).find((p) => p.name === 'gatehouse-worker')!;
    process.kill(victim.pid, 'SIGKILL');
    const said = new RegExp(`^gatehouse: gatehouse-worker ${victim.pm_id} exited; pm2 starts it again$`, 'm');
    await waitFor('up to say the worker died', async () => said.test(running.output()));
    await sb.waitOnline('gatehouse-worker', 2);

    const daemon = daemonPid(sb.home);
    assert.ok(daemon, 'a pm2 daemon under the stack home');
    const pids = (await sb.list()).map((p) => p.pid);
    assert.equal(pids.length, 3);
    const again = await run(process.execPath, upArgs(sb), { env: sb.env, timeout: 30_000 });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already runs under/);

    running.child.kill('SIGINT');
    assert.equal(await running.exited, 0, running.output());
    // pm2 kill returns once it told the daemon to go; the last exits follow within moments.
    await waitFor(
      'the daemon and every process it ran to be gone',
      async () => [...pids, daemon].every((pid) => !pidRuns(pid)) && daemonPid(sb.home) === null,
      30_000,
    );
    await assert.rejects(fetch(line[1]!), 'nothing answers on the proxy port any more');
  });

  test('gatehouse down stops a stack whose gatehouse up was killed outright, and exits', async (t) => {
    const box = await createPm2Sandbox({ workers: 1, config: { access_log: { path: 'off' } } });
    t.after(() => box.destroy());
    const orphaned = startUp(box);
    t.after(() => orphaned.child.kill('SIGKILL'));
    await waitFor(
      'the stack to answer',
      async () => /Ctrl-C stops everything/.test(orphaned.output()),
      120_000,
    );
    orphaned.child.kill('SIGKILL');
    await orphaned.exited;
    assert.ok(daemonPid(box.home), 'the daemon outlives the killed terminal');

    const down = await run(process.execPath, [gatehouse, 'down', '--pm2-home', box.home], {
      env: box.env,
      timeout: 60_000,
    });
    assert.equal(down.code, 0, down.stderr);
    assert.equal(down.stdout, `gatehouse: stopped the stack under ${box.home}\n`);
    await waitFor('the daemon to be gone', async () => daemonPid(box.home) === null, 10_000);
    await assert.rejects(fetch(box.proxyUrl), 'nothing answers on the proxy port');
    const again = await run(process.execPath, [gatehouse, 'down', '--pm2-home', box.home], { env: box.env });
    assert.equal(again.stdout, `gatehouse: nothing runs under ${box.home}\n`);
  });

  for (const key of ['listen', 'status.listen', 'workers.port'] as const) {
    test(`an address already taken (${key}): exits 1 at once with one line naming it, its holder and the key; starts nothing`, async (t) => {
      const box = await createPm2Sandbox({ workers: 2 });
      t.after(() => box.destroy());
      const port = Number(
        new URL(
          key === 'listen'
            ? box.proxyUrl
            : key === 'status.listen'
              ? box.statusUrl
              : `http://x:${box.workerPorts[1]}`,
        ).port,
      );
      const held = await holdPort(port);
      t.after(() => new Promise((resolve) => held.close(resolve)));
      const result = await run(process.execPath, upArgs(box, '--no-build'), {
        env: box.env,
        timeout: 30_000,
      });
      t.diagnostic(result.stderr.trim());
      assert.equal(result.code, 1);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      const keyText = key === 'workers.port' ? 'workers.port (worker 1 listens on workers.port + 1)' : key;
      assert.equal(
        lines[0],
        `gatehouse up: 127.0.0.1:${port} is already in use by pid ${process.pid} (${holderCommand()}); change ${keyText} in ${box.configFile}, or stop that process`,
      );
      assert.equal(result.stdout, '', 'nothing started, nothing said');
      assert.equal(daemonPid(box.home), null, 'no pm2 daemon');
    });
  }

  test('a worker that dies while starting: one line saying which and why, exit 1, everything stopped', async (t) => {
    const app = join(packageRoot, 'dist', 'test', 'fixtures', 'apps', 'fails-to-load.js');
    const box = await createPm2Sandbox({ workers: 2, config: { workers: { app } } });
    t.after(() => box.destroy());
    const result = await run(process.execPath, upArgs(box, '--no-build'), { env: box.env, timeout: 90_000 });
    const last = result.stderr.trim().split('\n').at(-1) ?? '';
    t.diagnostic(last);
    assert.equal(result.code, 1, `${result.stdout}\n${result.stderr}`);
    assert.match(
      last,
      /^gatehouse up: gatehouse-worker 0 exited with code 1 while starting: .*fails-to-load: this app cannot start; stopped everything$/,
    );
    // Not pm2's crash loop (16 restarts before it gave up): each worker dies at most twice, its
    // first start and a restart pm2 may have begun before the stop reached it; nothing is left.
    const deaths = result.stdout.match(/"msg":"cannot load the app; exiting"/g)?.length ?? 0;
    assert.ok(deaths >= 1 && deaths <= 4, `${deaths} deaths:\n${result.stdout}`);
    assert.equal(daemonPid(box.home), null, 'the daemon is gone');
    await assert.rejects(fetch(box.proxyUrl), 'nothing answers on the proxy port');
  });
});

function holdPort(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** This test process's command line as /proc has it, shortened as `gatehouse up` quotes it. */
function holderCommand(): string {
  const command = readFileSync('/proc/self/cmdline', 'utf8')
    .split('\0')
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
  return command.length > 80 ? `${command.slice(0, 79)}…` : command;
}
