import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { packageRoot } from '../../config/index.js';
import { daemonPid } from '../../deploy/pm2/daemon.js';
import { createPm2Sandbox, type Pm2Sandbox, run, waitFor } from '../helpers/pm2.js';

const gatehouse = join(packageRoot, 'bin', 'gatehouse.js');

interface Running {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function startUp(sb: Pm2Sandbox): Running {
  const child = spawn(process.execPath, [gatehouse, 'up', '--config', sb.configFile, '--pm2-home', sb.home], {
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

    // Its pm2 is the one `gatehouse status` finds, and a second `up` on it is refused.
    const daemon = daemonPid(sb.home);
    assert.ok(daemon, 'a pm2 daemon under the stack home');
    const pids = (await sb.list()).map((p) => p.pid);
    assert.equal(pids.length, 3);
    const again = await run(
      process.execPath,
      [gatehouse, 'up', '--config', sb.configFile, '--pm2-home', sb.home],
      {
        env: sb.env,
        timeout: 30_000,
      },
    );
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already runs under/);

    running.child.kill('SIGINT');
    assert.equal(await running.exited, 0, running.output());
    // pm2 kill returns once it told the daemon to go; the last exits follow within moments.
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(
      'the daemon and every process it ran to be gone',
      async () => [...pids, daemon].every((pid) => !alive(pid)) && daemonPid(sb.home) === null,
      30_000,
    );
    await assert.rejects(fetch(line[1]!), 'nothing answers on the proxy port any more');
  });
});
