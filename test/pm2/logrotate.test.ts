import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { packageRoot } from '../../config/index.js';
import { daemonPid } from '../../deploy/pm2/daemon.js';
import { PROXY_APP, WORKER_APP } from '../../deploy/pm2/ecosystem.js';
import { describeLoad, type LoadReport, loadDuring } from '../helpers/load.js';
import {
  allUpstreamsUp,
  createPm2Sandbox,
  ecosystemFile,
  type Pm2Sandbox,
  run,
  type SandboxOptions,
  waitFor,
} from '../helpers/pm2.js';
import { request } from '../helpers/proxy.js';
import { logrotateBin, requires } from '../helpers/system-deps.js';

// deploy/pm2/logrotate.conf run by the real logrotate against a pm2 sandbox: the example's
// PM2_HOME and access log path become the sandbox's, its `size 10M` becomes 1k (a few requests
// pass it), and the state file lives in the sandbox. logrotate runs with cron's PATH: the
// postrotate scripts only signal processes, they need no node.

const example = join(packageRoot, 'deploy', 'pm2', 'logrotate.conf');
const EXAMPLE_HOME = '/home/app/.pm2';
const EXAMPLE_ACCESS_LOG = '/var/log/gatehouse/access.log';
const EXAMPLE_SIZE = 'size 10M';
/** What the test's copy rotates at. */
const TEST_SIZE = 1024;

/** `rotate N` of the example: how many renamed files of each log it keeps. */
const keep = Number(/^\s*rotate (\d+)$/m.exec(readFileSync(example, 'utf8'))?.[1]);

/** A log file and how to find the request ids in its lines. */
interface Log {
  path: string;
  /** The request ids of its request lines; other lines are passed over. */
  ids(text: string): string[];
}

/** The ids under `key` of the JSON lines that `accept`. */
function jsonIds(key: string, accept: (entry: Record<string, unknown>) => boolean = () => true) {
  return (text: string): string[] =>
    text.split('\n').flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        return accept(entry) && typeof entry[key] === 'string' ? [entry[key] as string] : [];
      } catch {
        return [];
      }
    });
}

/** The workers' JSON "request" lines, as pm2 keeps their stdout (the ecosystem merges the instances). */
const workerLog = (sb: Pm2Sandbox): Log => ({
  path: join(sb.home, 'logs', `${WORKER_APP}-out.log`),
  ids: jsonIds('requestId', (entry) => entry.msg === 'request'),
});
/** The proxy's access log (json format), on its stdout as pm2 keeps it, or in a file of its own. */
const accessLog = (path: string): Log => ({ path, ids: jsonIds('request_id') });
const proxyStdout = (sb: Pm2Sandbox) => join(sb.home, 'logs', `${PROXY_APP}-out.log`);

/** A file's text, gunzipped when it is a .gz; '' when there is no such file. */
function readLog(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return '';
  }
  return (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

const idsIn = (log: Log, suffix = '') => new Set(log.ids(readLog(`${log.path}${suffix}`)));

/** The files logrotate made of `path`: `<name>.N` and `<name>.N.gz`, sorted. */
function rotatedOf(path: string): string[] {
  const name = basename(path);
  return readdirSync(dirname(path))
    .filter((file) => file.startsWith(`${name}.`) && /\.\d+(\.gz)?$/.test(file))
    .sort();
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

interface Stack {
  sb: Pm2Sandbox;
  port: number;
  /** The test's copy of the example. */
  config: string;
  state: string;
}

/**
 * A pm2 sandbox running the ecosystem, and the example adapted to it. `replace`: text replacements
 * in the example (the access log's path at least), made before the sandbox's PM2_HOME and the test
 * size go in.
 */
async function startStack(options: SandboxOptions, replace: [string, string][]): Promise<Stack> {
  const sb = await createPm2Sandbox(options);
  try {
    let text = readFileSync(example, 'utf8');
    for (const needle of [EXAMPLE_HOME, EXAMPLE_ACCESS_LOG, EXAMPLE_SIZE])
      assert.ok(text.includes(needle), `${example} no longer has ${needle}`);
    for (const [from, to] of replace) text = text.replaceAll(from, to);
    assert.ok(!text.includes(EXAMPLE_ACCESS_LOG), 'the access log stanza points into the test');
    text = text.replaceAll(EXAMPLE_HOME, sb.home).replaceAll(EXAMPLE_SIZE, `size ${TEST_SIZE}`);
    const config = join(dirname(sb.home), 'logrotate.conf');
    // logrotate ignores a config file that others may write to.
    writeFileSync(config, text, { mode: 0o644 });
    const started = await sb.pm2(['start', ecosystemFile, '--env', 'production']);
    assert.equal(started.code, 0, `${started.stdout}\n${started.stderr}`);
    const workers = sb.workerPorts.length;
    await sb.waitOnline(WORKER_APP, workers);
    await allUpstreamsUp(sb.statusUrl, workers);
    return {
      sb,
      port: Number(new URL(sb.proxyUrl).port),
      config,
      state: join(dirname(sb.home), 'logrotate.state'),
    };
  } catch (err) {
    await sb.destroy();
    throw err;
  }
}

/** logrotate as cron runs it (PATH /usr/bin:/bin). */
async function logrotate(stack: Stack, ...flags: string[]): Promise<void> {
  const result = await run(logrotateBin()!, [...flags, '-s', stack.state, stack.config], {
    env: { ...stack.sb.env, PATH: '/usr/bin:/bin' },
  });
  assert.equal(result.code, 0, `logrotate: ${result.stdout}${result.stderr}`);
  assert.equal(result.stderr, '', 'logrotate said nothing on stderr');
}

/** `count` GETs through the proxy, each on a new connection; their request ids. */
async function marked(stack: Stack, label: string, count = 3): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await request(stack.port, { path: `/?logrotate=${label}-${i}` });
    assert.equal(reply.status, 200, reply.text);
    ids.push(String(reply.headers['x-request-id']));
  }
  return ids;
}

/** Waits until every id has a line in each log: the live file or the newest rotated one. */
function logged(logs: Log[], ids: string[], what: string): Promise<true> {
  return waitFor(
    `${what}: a line for each in ${logs.map((log) => basename(log.path)).join(', ')}`,
    async () =>
      logs.every((log) => {
        const found = new Set([...idsIn(log), ...idsIn(log, '.1')]);
        return ids.every((id) => found.has(id));
      }),
  );
}

/**
 * One rotation: requests logged before it must be in the renamed file (.1) of each log, requests
 * after it in the new live file, so each writer reopened. `reopened` waits for the postrotate's
 * signal to have been acted on (it is asynchronous). Returns each log's live size before and after.
 */
async function rotation(
  stack: Stack,
  logs: Log[],
  label: string,
  reopened: () => Promise<unknown>,
): Promise<Array<[number, number]>> {
  const earlier = await marked(stack, `before-${label}`);
  await logged(logs, earlier, `requests before rotation ${label}`);
  const before = logs.map((log) => sizeOf(log.path));
  await logrotate(stack);
  await reopened();
  const sizes = logs.map((log, i): [number, number] => [before[i]!, sizeOf(log.path)]);
  const later = await marked(stack, `after-${label}`);
  await logged(logs, later, `requests after rotation ${label}`);
  for (const log of logs) {
    const live = idsIn(log);
    const renamed = idsIn(log, '.1');
    const name = basename(log.path);
    assert.ok(
      earlier.every((id) => renamed.has(id) && !live.has(id)),
      `rotation ${label}: lines from before it are in ${name}.1 only`,
    );
    assert.ok(
      later.every((id) => live.has(id) && !renamed.has(id)),
      `rotation ${label}: lines from after it are in the new ${name} only (its writer reopened)`,
    );
  }
  return sizes;
}

/**
 * Every request since the stack started has its line in `log` (live and rotated files), waiting a
 * little for the last ones (the proxy writes once a second); reports and returns how many are not.
 */
async function lost(t: { diagnostic(message: string): void }, log: Log, expected: number): Promise<number> {
  const count = () => {
    const all = [log.path, ...rotatedOf(log.path).map((file) => join(dirname(log.path), file))].flatMap(
      (file) => log.ids(readLog(file)),
    );
    assert.equal(new Set(all).size, all.length, `${basename(log.path)}: no line twice`);
    return all.length;
  };
  const found = await waitFor(
    `${expected} request lines in ${basename(log.path)}*`,
    async () => (count() >= expected ? true : null),
    5000,
  ).then(count, count);
  t.diagnostic(
    `${basename(log.path)}*: lines for ${found} of ${expected} requests (${expected - found} lost)`,
  );
  return expected - found;
}

/** Requests through the proxy in `rounds` rotations under load: the load's, 3 before and 3 after each. */
const requestsIn = (report: LoadReport, rounds: number) => report.total + rounds * 2 * 3;

describe("logrotate caps pm2's log files (deploy/pm2/logrotate.conf)", {
  ...requires('logrotate'),
  timeout: 300_000,
}, () => {
  let stack: Stack;
  let logs: Log[];

  before(async () => {
    // The json access log carries the request id: each request's line can be found.
    // The access log stanza points at a file that does not exist: nothing of this machine is rotated.
    stack = await startStack({ workers: 2, config: { access_log: { format: 'json' } } }, [
      [EXAMPLE_ACCESS_LOG, '/nonexistent/access.log'],
    ]);
    logs = [workerLog(stack.sb), accessLog(proxyStdout(stack.sb))];
  });
  after(() => stack?.sb.destroy());

  // The proxy prints this once it has reopened its files (pm2's ProcessContainer), and the daemon
  // tells it to only after reopening the workers' files itself.
  const reopened = () =>
    waitFor('the proxy writing to a new file', async () =>
      readLog(proxyStdout(stack.sb)).includes('Reloading log...'),
    );

  test('under load: each rotation moves the lines so far to .1, and the daemon (workers, fork mode) and the proxy (cluster mode) write new files', async (t) => {
    const rounds = 2;
    const { report } = await loadDuring(stack.sb.proxyUrl, async () => {
      for (let round = 1; round <= rounds; round++) await rotation(stack, logs, `load-${round}`, reopened);
    });
    t.diagnostic(describeLoad(`${rounds} rotations`, report));
    assert.equal(report.failed, 0, stack.sb.explain(report.failedResults));
    // Fewer rotations than `keep`: no file was deleted yet, every line is somewhere. pm2 loses a
    // few at a reopen (it destroys its file streams with what they hold): counted, not asserted.
    assert.ok(rounds < keep);
    for (const log of logs) {
      await lost(t, log, requestsIn(report, rounds));
      // What a request costs on disk, and what gzip saves (the file rotated first, gzipped at the second).
      const gzipped = readFileSync(`${log.path}.2.gz`);
      const plain = gunzipSync(gzipped);
      t.diagnostic(
        `${basename(log.path)}: ${Math.round(plain.length / log.ids(plain.toString()).length)} bytes a request; .2.gz ${gzipped.length} bytes for ${plain.length} (${(plain.length / gzipped.length).toFixed(1)}× smaller)`,
      );
    }
  });

  test(`after more than ${keep} rotations: ${keep} rotated files of each log, the newest plain and the others gzipped, the live ones small`, async (t) => {
    const rounds = keep + 2;
    for (let round = 1; round <= rounds; round++) {
      const sizes = await rotation(stack, logs, `cap-${round}`, reopened);
      logs.forEach((log, i) => {
        const [before, after] = sizes[i]!;
        assert.ok(before >= TEST_SIZE, `${basename(log.path)} had passed ${TEST_SIZE} bytes (${before})`);
        assert.ok(after < before, `${basename(log.path)} small again: ${before} → ${after} bytes`);
        if (round === rounds)
          t.diagnostic(`${basename(log.path)}: ${before} → ${after} bytes at the last rotation`);
      });
    }
    for (const log of logs) {
      const name = basename(log.path);
      const expected = [`${name}.1`, ...Array.from({ length: keep - 1 }, (_, i) => `${name}.${i + 2}.gz`)];
      assert.deepEqual(rotatedOf(log.path), expected.sort(), `${name}: ${keep} rotated files, no more`);
      const gzipped = readFileSync(`${log.path}.2.gz`);
      assert.deepEqual([...gzipped.subarray(0, 2)], [0x1f, 0x8b], `${name}.2.gz is gzip`);
    }
    const logsDir = join(stack.sb.home, 'logs');
    for (const name of readdirSync(logsDir).filter((file) => file.endsWith('.log'))) {
      const count = rotatedOf(join(logsDir, name)).length;
      assert.ok(count <= keep, `${name}: ${count} rotated files`);
    }

    // pm2.log, the daemon's own: copied and truncated in place, and the daemon goes on appending
    // to it, from its start (no hole of NUL bytes where the old lines were).
    const daemonLog = join(stack.sb.home, 'pm2.log');
    const rotated = rotatedOf(daemonLog);
    t.diagnostic(`pm2.log rotated: ${rotated.join(', ')}`);
    assert.ok(rotated.length >= 1 && rotated.length <= keep, `pm2.log: ${rotated.length} rotated files`);
    const reloaded = await stack.sb.pm2(['reloadLogs']);
    assert.equal(reloaded.code, 0, reloaded.stderr);
    const bytes = await waitFor('the daemon writing to pm2.log again', async () => {
      const now = readFileSync(daemonLog);
      return now.includes('Reloading logs') ? now : null;
    });
    assert.ok(!bytes.includes(0), 'no NUL bytes in pm2.log');
  });

  test('with the daemon stopped, logrotate still rotates, and the postrotate starts no daemon', async () => {
    await logged(logs, await marked(stack, 'last'), 'requests before the stop');
    const killed = await stack.sb.pm2(['kill'], 30_000);
    assert.equal(killed.code, 0, killed.stderr);
    assert.equal(daemonPid(stack.sb.home), null, 'pm2 kill stopped the daemon');
    await logrotate(stack, '-f');
    for (const log of logs) assert.equal(sizeOf(log.path), 0, `${basename(log.path)} was rotated`);
    assert.equal(daemonPid(stack.sb.home), null, 'no pm2 daemon runs under the sandbox home');
  });
});

describe("logrotate and the proxy's access log file: SIGUSR1 to each pm2 cluster-mode proxy process", {
  ...requires('logrotate'),
  timeout: 300_000,
}, () => {
  let stack: Stack;
  let log: Log;

  before(async () => {
    // A directory of its own: logrotate wants the file's directory writable by its owner only.
    const path = join(mkdtempSync(join(tmpdir(), 'gh-access-')), 'access.log');
    stack = await startStack(
      { workers: 1, config: { instances: 2, access_log: { format: 'json', path } } },
      // pm2's own logs are left alone here: their stanzas point at a directory that does not exist.
      [
        [`${EXAMPLE_HOME}/logs/`, '/nonexistent/logs/'],
        [`${EXAMPLE_HOME}/pm2.log`, '/nonexistent/pm2.log'],
        [EXAMPLE_ACCESS_LOG, path],
      ],
    );
    log = accessLog(path);
    await stack.sb.waitOnline(PROXY_APP, 2);
  });
  after(async () => {
    await stack?.sb.destroy();
    if (log) rmSync(dirname(log.path), { recursive: true, force: true });
  });

  test('under load: both proxy processes reopen the file at each rotation, and no line is lost', async (t) => {
    const proxies = new Set((await stack.sb.list()).filter((p) => p.name === PROXY_APP).map((p) => p.pid));
    assert.equal(proxies.size, 2);
    let rotations = 0;
    // Each proxy process logs this once it has the new file open.
    const reopened = async () => {
      rotations++;
      await waitFor(`"access log reopened" ${rotations} times from each proxy process`, async () => {
        const lines = stack.sb.proxyLog().filter((line) => line.msg === 'access log reopened');
        return [...proxies].every((pid) => lines.filter((line) => line.pid === pid).length === rotations);
      });
    };
    const rounds = 2;
    const { report } = await loadDuring(stack.sb.proxyUrl, async () => {
      for (let round = 1; round <= rounds; round++) await rotation(stack, [log], `load-${round}`, reopened);
    });
    t.diagnostic(describeLoad(`${rounds} rotations`, report));
    assert.equal(report.failed, 0, stack.sb.explain(report.failedResults));
    assert.ok(rounds < keep);
    assert.equal(await lost(t, log, requestsIn(report, rounds)), 0, 'no line lost');
    assert.deepEqual(rotatedOf(log.path), ['access.log.1', 'access.log.2.gz']);
  });
});
