import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Config, packageRoot } from '../../config/index.js';
import { daemonPid, pm2Bin } from './daemon.js';
import type { EcosystemProfile } from './ecosystem.js';
import { connectAddress, statusUrl } from './status.js';

export interface UpOptions {
  config: Config;
  /** Passed to pm2 (and so to every process) as GATEHOUSE_CONFIG; null: what this process has. */
  configFile: string | null;
  profile: EcosystemProfile;
  /** This stack's own pm2 home, so stopping it never touches anyone else's pm2 apps. */
  pm2Home: string;
  /** How long the stack may take to answer before `up` gives up, in ms. */
  startTimeout?: number;
  /** Where `up` says what it does (the apps' own logs go straight to the terminal). */
  log?: (line: string) => void;
}

export class UpError extends Error {
  constructor(
    readonly code: 'GH_ERR_UP_RUNNING' | 'GH_ERR_UP_START',
    message: string,
  ) {
    super(message);
    this.name = 'UpError';
  }
}

/**
 * The whole stack in the foreground, like `gunicorn` without `-D`: a pm2 daemon of its own (its own
 * PM2_HOME) starts ecosystem.config.cjs, every process's log streams to this terminal, and Ctrl-C or
 * SIGTERM stops the processes gracefully and the daemon with them. Resolves with the exit code.
 *
 * Not pm2-runtime: it runs pm2 inside its own process, whose arguments ("start ecosystem.config.cjs")
 * node:cluster then hands to every cluster-mode process — the proxy would read them as its command
 * (pm2 issues #4233, #4950). A real daemon starts its processes with clean arguments.
 */
export async function runUp(options: UpOptions): Promise<number> {
  const { config, configFile, profile, pm2Home, startTimeout = 90_000, log = console.log } = options;
  const running = daemonPid(pm2Home);
  if (running !== null) {
    throw new UpError(
      'GH_ERR_UP_RUNNING',
      `a pm2 daemon (pid ${running}) already runs under ${pm2Home}: stop that stack first (Ctrl-C in its terminal, or \`npx gatehouse down\`)`,
    );
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PM2_HOME: pm2Home,
    // One process at a time for every action of this daemon, the file watcher's restarts included:
    // by default it restarts two workers at once, and then the pool has nobody left to answer.
    PM2_CONCURRENT_ACTIONS: '1',
  };
  if (configFile) env.GATEHOUSE_CONFIG = configFile;
  const pm2 = (args: string[], stdio: 'inherit' | 'ignore' = 'inherit'): ChildProcess =>
    spawn(process.execPath, [pm2Bin, ...args], { cwd: packageRoot, env, stdio });

  let stopRequested: (() => void) | null = null;
  const stop = new Promise<'signal'>((resolve) => {
    stopRequested = () => resolve('signal');
  });
  // A terminal's Ctrl-C reaches the whole foreground group; the daemon runs in a session of its own,
  // so nothing stops until `pm2 kill` below asks each process to drain, in order.
  const onSignal = () => stopRequested?.();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let logs: ChildProcess | null = null;
  // Ends the polling loops once `up` is done, whichever way: they must not keep the process alive.
  const done = new AbortController();
  try {
    const started = await Promise.race([
      exitCode(pm2(['start', join(packageRoot, 'ecosystem.config.cjs'), '--env', profile])),
      stop,
    ]);
    if (started === 'signal') return await shutdown(0);
    if (started !== 0) {
      await shutdown(1);
      throw new UpError('GH_ERR_UP_START', `pm2 could not start the stack (exit ${started})`);
    }
    logs = pm2(['logs', '--raw', '--lines', '0']);
    const answered = await Promise.race([waitUntilAnswering(config, startTimeout, done.signal), stop]);
    if (answered === false) {
      await shutdown(1);
      throw new UpError('GH_ERR_UP_START', `the stack did not answer within ${startTimeout} ms; stopped it`);
    }
    if (answered === true) {
      log(
        `gatehouse: http://${connectAddress(config.listen)}/ (status ${statusUrl(config)}) — Ctrl-C stops everything`,
      );
      const ended = await Promise.race([stop, daemonGone(pm2Home, done.signal)]);
      if (ended === 'daemon') {
        log('gatehouse: the pm2 daemon is gone; exiting');
        return 1;
      }
    }
    return await shutdown(0);
  } finally {
    done.abort();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    logs?.kill();
  }

  async function shutdown(code: number): Promise<number> {
    log('gatehouse: stopping (each process drains its requests first)');
    await exitCode(pm2(['kill']));
    logs?.kill();
    return code;
  }
}

function exitCode(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    child.once('error', () => resolve(1));
  });
}

async function daemonGone(home: string, signal: AbortSignal): Promise<'daemon'> {
  while (!signal.aborted && daemonPid(home) !== null)
    await sleep(1000, undefined, { signal }).catch(() => {});
  return 'daemon';
}

/** True once both the proxy (with a worker behind it) and its status listener answer; false on timeout. */
async function waitUntilAnswering(config: Config, timeout: number, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeout;
  const health = `http://${connectAddress(config.listen)}/healthz`;
  while (Date.now() < deadline && !signal.aborted) {
    if ((await answers(health)) && (await answers(statusUrl(config)))) return true;
    await sleep(250, undefined, { signal }).catch(() => {});
  }
  return false;
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) < 500);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Stops a stack `up` left running (its terminal was killed outright): `pm2 kill` under its home. */
export async function runDown(pm2Home: string, log: (line: string) => void = console.log): Promise<number> {
  const pid = daemonPid(pm2Home);
  if (pid === null) {
    log(`gatehouse: nothing runs under ${pm2Home}`);
    return 0;
  }
  const child = spawn(process.execPath, [pm2Bin, 'kill'], {
    cwd: packageRoot,
    env: { ...process.env, PM2_HOME: pm2Home },
    stdio: 'inherit',
  });
  return exitCode(child);
}
