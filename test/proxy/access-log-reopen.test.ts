import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeLoad, startLoad } from '../helpers/load.js';
import { type ProxyProcess, request, servers, startProxyProcess } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';

// logrotate renames access.log to access.log.1, then its postrotate sends SIGUSR1 (nginx -s
// reopen): each proxy process writes out what it holds to the renamed file and opens access.log
// anew. The json format carries the request id, so every line can be told apart.

/** The request ids of the json access log lines in `file` (none when it does not exist). */
function idsIn(file: string): string[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {}
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { request_id: string }).request_id);
}

/** `count` GETs, each on a new connection (node:cluster hands those out in turn); their request ids. */
async function requestIds(port: number, count: number, what: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await request(port, { path: `/?${what}=${i}` });
    assert.equal(reply.status, 200, `${what} ${i}: ${reply.text}`);
    ids.push(String(reply.headers['x-request-id']));
  }
  return ids;
}

/**
 * Requests before, load across, requests after: the file renamed and SIGUSR1 sent while 10
 * connections keep requests coming, then every line accounted for once the proxy has stopped.
 */
async function rotateUnderLoad(
  t: { diagnostic(message: string): void },
  proxy: ProxyProcess,
  path: string,
  processes: number,
): Promise<void> {
  const earlier = await requestIds(proxy.port, 20, 'before');
  const load = startLoad({ url: `http://127.0.0.1:${proxy.port}`, connections: 10, duration: 60_000 });
  try {
    await waitFor('load before the rename', async () => load.ended >= 100);
    renameSync(path, `${path}.1`);
    const from = proxy.logs.length;
    proxy.signal('SIGUSR1');
    await waitFor(
      `"access log reopened" from ${processes} process(es)`,
      async () =>
        new Set(proxy.logs.slice(from).flatMap((l) => (l.msg === 'access log reopened' ? [l.pid] : [])))
          .size === processes,
    );
    const reopenedAt = load.ended;
    await waitFor('load after the reopen', async () => load.ended >= reopenedAt + 100);
  } finally {
    await load.stop();
  }
  const report = await load.done;
  t.diagnostic(describeLoad('across the reopen', report));
  assert.equal(report.failed, 0, describeLoad('across the reopen', report));
  const later = await requestIds(proxy.port, 20, 'after');
  // SIGTERM: the proxy drains and closes the log, writing out all it holds.
  assert.equal((await proxy.stop()).code, 0, proxy.describe());
  // Node's own meaning of SIGUSR1, without a listener: start the inspector.
  assert.doesNotMatch(proxy.stderr(), /Debugger listening/);

  const old = idsIn(`${path}.1`);
  const now = idsIn(path);
  t.diagnostic(`${old.length} lines in access.log.1, ${now.length} in the new access.log`);
  const oldSet = new Set(old);
  const nowSet = new Set(now);
  assert.ok(
    earlier.every((id) => oldSet.has(id) && !nowSet.has(id)),
    'requests before the rename: in the renamed file only',
  );
  assert.ok(
    later.every((id) => nowSet.has(id) && !oldSet.has(id)),
    'requests after the reopen: in the new file only',
  );
  assert.equal(new Set([...old, ...now]).size, old.length + now.length, 'no line is written twice');
  assert.equal(
    old.length + now.length,
    earlier.length + report.total + later.length,
    'a line for every request: none lost',
  );
}

let worker: WorkerProcess;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());

describe('SIGUSR1 reopens the access log file (nginx -s reopen)', () => {
  let dir: string;
  let path: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-reopen-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('renamed under load, then SIGUSR1: old lines stay in the renamed file, new ones go to a new file, none lost', async (t) => {
    path = join(dir, 'one', 'access.log');
    const proxy = await startProxyProcess(t, {
      config: { upstream: { servers: servers(worker.port) }, access_log: { format: 'json', path } },
    });
    await rotateUnderLoad(t, proxy, path, 1);
  });

  test('instances: 2 (node:cluster): SIGUSR1 to the primary reopens the file in both proxy processes', async (t) => {
    path = join(dir, 'two', 'access.log');
    const proxy = await startProxyProcess(t, {
      config: {
        instances: 2,
        upstream: { servers: servers(worker.port) },
        access_log: { format: 'json', path },
      },
      listeners: 2,
    });
    await rotateUnderLoad(t, proxy, path, 2);
  });

  test('a path that cannot be opened: the error is logged and lines keep going to the file it had', async (t) => {
    path = join(dir, 'three', 'access.log');
    const proxy = await startProxyProcess(t, {
      config: { upstream: { servers: servers(worker.port) }, access_log: { format: 'json', path } },
    });
    await requestIds(proxy.port, 5, 'before');
    renameSync(path, `${path}.1`);
    mkdirSync(path); // a directory where the file was: open() fails with EISDIR
    const from = proxy.logs.length;
    proxy.signal('SIGUSR1');
    const line = await proxy.waitForLog(
      (l) => l.msg?.startsWith('access log not reopened') ?? false,
      10_000,
      from,
    );
    assert.equal(line.level, 50, 'logged at error level');
    assert.match(JSON.stringify(line.err), /EISDIR/);
    const later = await requestIds(proxy.port, 5, 'after');
    assert.equal((await proxy.stop()).code, 0, proxy.describe());
    const old = new Set(idsIn(`${path}.1`));
    assert.ok(
      later.every((id) => old.has(id)),
      'lines after the failed reopen are in the file it had open',
    );
    assert.deepEqual(proxy.crashes(), []);
  });
});
