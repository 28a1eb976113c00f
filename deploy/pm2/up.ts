import { request } from 'node:http';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Config, packageRoot } from '../../config/index.js';
import { buildIfStale } from './build-check.js';
import { daemonPid } from './daemon.js';
import { COMPILER_APP, createEcosystem, type EcosystemProfile } from './ecosystem.js';
import { createLogStream, failureReason } from './log-stream.js';
import { addressProblems } from './preflight.js';
import { connectStackDaemon, type Pm2ProcessEvent, type StackDaemon } from './session.js';
import { connectAddress, statusUrl } from './status.js';

type Output = NodeJS.WritableStream & { isTTY?: boolean };

export interface UpOptions {
  config: Config;
  profile: EcosystemProfile;
  /** This stack's own pm2 home, so stopping it never touches anyone else's pm2 apps. */
  pm2Home: string;
  /** Compile first when a source is newer than its compiled file (default true). */
  build?: boolean;
  /** How long the stack may take to answer before `up` gives up, in ms. */
  startTimeout?: number;
  /** Where `up` says what it does. */
  log?: (line: string) => void;
  /** Where the processes' output goes, and tsc's. */
  stdout?: Output;
  stderr?: Output;
  /** Format the processes' output for a person; default: stdout is a terminal. */
  tty?: boolean;
  /** The package to build and run (default: this one). */
  root?: string;
}

export type UpErrorCode = 'GH_ERR_UP_RUNNING' | 'GH_ERR_UP_ADDRESS' | 'GH_ERR_UP_BUILD' | 'GH_ERR_UP_START';

/** Why `up` stopped: one line per problem, each a sentence a person can act on. */
export class UpError extends Error {
  constructor(
    readonly code: UpErrorCode,
    readonly lines: readonly string[],
  ) {
    super(lines.join('\n'));
    this.name = 'UpError';
  }
}

/**
 * The whole stack in the foreground, like `gunicorn` without `-D`: checks every listen address,
 * compiles if a source changed, starts a pm2 daemon of its own (its own PM2_HOME) with the workers
 * and the proxy at once, streams their output, and on Ctrl-C or SIGTERM stops the processes
 * gracefully and the daemon with them. A process that dies while starting, or that pm2 gives up
 * on later, stops everything with one line saying why. Resolves with the exit code.
 *
 * Not pm2-runtime: it runs pm2 inside its own process, whose arguments ("start ecosystem.config.cjs")
 * node:cluster then hands to every cluster-mode process — the proxy would read them as its command
 * (pm2 issues #4233, #4950). A real daemon starts its processes with clean arguments.
 */
export async function runUp(options: UpOptions): Promise<number> {
  const { config, profile, pm2Home, startTimeout = 90_000, log = console.log } = options;
  const { stdout = process.stdout, stderr = process.stderr, root = packageRoot } = options;
  const running = daemonPid(pm2Home);
  if (running !== null) {
    throw new UpError('GH_ERR_UP_RUNNING', [
      `a pm2 daemon (pid ${running}) already runs under ${pm2Home}: stop that stack first (Ctrl-C in its terminal, or \`npx gatehouse down\`)`,
    ]);
  }
  const problems = await addressProblems(config);
  if (problems.length > 0) throw new UpError('GH_ERR_UP_ADDRESS', problems);
  if (options.build !== false) {
    const built = await buildIfStale(root, log, stdout, { buildInfo: profile === 'development' });
    if (built.action === 'failed') {
      throw new UpError('GH_ERR_UP_BUILD', [
        `tsc failed (exit ${built.code}); fix the errors above and run it again`,
      ]);
    }
  }

  let stopRequested: () => void = () => {};
  const stop = new Promise<'signal'>((resolve) => {
    stopRequested = () => resolve('signal');
  });
  // A terminal's Ctrl-C reaches the whole foreground group; the daemon runs in a session of its own,
  // so nothing stops until kill() asks each process to drain, in order.
  const onSignal = () => stopRequested();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Ends the polling loops once `up` is done, whichever way: they must not keep the process alive.
  const done = new AbortController();
  const logs = createLogStream({ tty: options.tty ?? stdout.isTTY === true, out: stdout, err: stderr });
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let failed: (error: UpError) => void = () => {};
  const failure = new Promise<UpError>((resolve) => {
    failed = resolve;
  });
  // pm2 reports a stop it makes (a watcher's restart, a reload) twice, from its stop and from the
  // child's exit, both with the same restart count: one line is enough.
  const lastExit = new Map<number, number>();
  const onEvent = (event: Pm2ProcessEvent) => {
    if (phase === 'stopping') return;
    if (event.event === 'exit') {
      if (lastExit.get(event.pmId) === event.restarts) return;
      lastExit.set(event.pmId, event.restarts);
    }
    const who = `${event.name} ${event.pmId}`;
    // pm2 reports 0 for a process killed by a signal: only a real exit code says anything.
    const exited = event.exitCode ? `exited with code ${event.exitCode}` : 'exited';
    const why = () => failureReason(logs.lastLines(event.pmId));
    if (event.event === 'errored') {
      failed(startError(`pm2 gave up on ${who} after ${event.restarts} quick restarts: ${why()}`));
    } else if (phase === 'starting') {
      failed(startError(`${who} ${exited} while starting: ${why()}`));
    } else {
      log(`gatehouse: ${who} ${exited}; pm2 starts it again`);
    }
  };

  let daemon: StackDaemon | null = null;
  try {
    const { apps } = createEcosystem(config, { root, profile });
    const workers = config.workers.count === 1 ? '1 worker' : `${config.workers.count} workers`;
    log(`gatehouse: starting ${workers} and the proxy (pm2 home ${shortPath(pm2Home)})`);
    daemon = await connectStackDaemon({ home: pm2Home, onOutput: logs.push, onEvent });
    const stack = daemon;
    // Workers and proxy at once: pm2 starts the instances of one app one after another, waiting
    // for each one's ready; the proxy need not wait for them (it retries and health-checks).
    for (const app of apps) {
      stack
        .start(app, profile)
        .catch((err: Error) => failed(startError(`pm2 could not start ${app.name}: ${err.message}`)));
    }
    const started = waitUntilAnswering(config, startTimeout, done.signal);
    const outcome = await Promise.race([started, stop, failure]);
    if (outcome instanceof UpError) return await shutdown(outcome);
    if (outcome === 'signal') return await shutdown(0);
    if (!outcome) {
      return await shutdown(
        startError(`the stack did not answer on ${connectAddress(config.listen)} within ${startTimeout} ms`),
      );
    }
    phase = 'running';
    log(
      `gatehouse: http://${connectAddress(config.listen)}/${config.tls ? ` and https://${connectAddress(config.tls.listen)}/` : ''} (status ${statusUrl(config)}) — Ctrl-C stops everything`,
    );
    if (profile === 'development') log(developmentLine(apps.find((app) => app.name === COMPILER_APP)));
    const ended = await Promise.race([stop, failure, daemonGone(pm2Home, done.signal)]);
    if (ended === 'daemon') {
      log('gatehouse: the pm2 daemon is gone; exiting');
      return 1;
    }
    return await shutdown(ended instanceof UpError ? ended : 0);
  } catch (err) {
    if (err instanceof UpError) throw err;
    return await shutdown(startError(`pm2 could not start the stack: ${(err as Error).message}`));
  } finally {
    done.abort();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    logs.flush();
    await daemon?.disconnect();
  }

  /** Stops every process and the daemon; an UpError is thrown once that is done. */
  async function shutdown(result: number | UpError): Promise<number> {
    phase = 'stopping';
    log('gatehouse: stopping (each process drains its requests first)');
    await daemon?.kill().catch(() => {});
    if (result instanceof UpError) throw result;
    return result;
  }
}

/** What the development profile does on a change, in one line. */
function developmentLine(compiler: { cwd?: string } | undefined): string {
  const project = compiler ? shortPath(join(compiler.cwd ?? '.', 'tsconfig.json')) : null;
  const compiles = project
    ? `tsc --watch compiles ${project} on save (an error shows here and changes nothing), `
    : '';
  return `gatehouse: development: ${compiles}pm2 restarts the workers one at a time when their code or templates change, and pages served through the proxy reload themselves`;
}

function startError(line: string): UpError {
  return new UpError('GH_ERR_UP_START', [`${line}; stopped everything`]);
}

function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

async function daemonGone(home: string, signal: AbortSignal): Promise<'daemon'> {
  while (!signal.aborted && daemonPid(home) !== null)
    await sleep(1000, undefined, { signal }).catch(() => {});
  return 'daemon';
}

/**
 * True once every worker, the proxy and its status listener answer; false on timeout. The workers
 * are asked directly before the proxy is: a request through the proxy to a worker that is not
 * listening yet would be retried (no harm) but would take that worker out for fail_timeout and
 * log a warning, on every start.
 */
async function waitUntilAnswering(config: Config, timeout: number, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeout;
  const { path } = config.upstream.health;
  const workers = Array.from({ length: config.workers.count }, (_, i) => ({
    host: config.workers.host,
    port: config.workers.port + i,
  }));
  const pending = [
    ...workers.map((address) => `http://${connectAddress(address)}${path}`),
    `http://${connectAddress(config.listen)}${path}`,
    statusUrl(config),
  ];
  while (Date.now() < deadline && !signal.aborted) {
    while (pending.length > 0 && (await answers(pending[0]!))) pending.shift();
    if (pending.length === 0) return true;
    await sleep(100, undefined, { signal }).catch(() => {});
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

/** Stops a stack `up` left running (its terminal was killed outright): pm2 kill under its home. */
export async function runDown(pm2Home: string, log: (line: string) => void = console.log): Promise<number> {
  if (daemonPid(pm2Home) === null) {
    log(`gatehouse: nothing runs under ${pm2Home}`);
    return 0;
  }
  const daemon = await connectStackDaemon({ home: pm2Home });
  try {
    await daemon.kill();
  } finally {
    await daemon.disconnect();
  }
  log(`gatehouse: stopped the stack under ${pm2Home}`);
  return 0;
}
