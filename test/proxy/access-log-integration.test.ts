import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closedPort, eventually, request, servers, startProxy } from '../helpers/proxy.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';

function tempLog(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-access-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'access.log');
}

/** The log's lines once there are at least `count` (the log writes asynchronously). */
async function logLines(path: string, count: number): Promise<string[]> {
  let lines: string[] = [];
  await eventually(() => {
    try {
      lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    } catch {}
    return lines.length >= count;
  }, 5000);
  return lines;
}

let worker: WorkerProcess;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());

describe('access log through the running proxy', () => {
  test('combined: one line per request with the request line, status, body bytes, referer and agent', async (t) => {
    const path = tempLog(t);
    const proxy = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      access_log: { format: 'combined', path },
    });
    const reply = await request(proxy.port, {
      path: '/headers?x=1',
      headers: { 'User-Agent': 'gatehouse-test/1.0', Referer: 'http://ref.example/' },
    });
    await proxy.close();
    const [line] = await logLines(path, 1);
    assert.match(
      line ?? '',
      new RegExp(
        `^127\\.0\\.0\\.1 - - \\[[^\\]]+\\] "GET /headers\\?x=1 HTTP/1\\.1" 200 ${reply.body.length} "http://ref\\.example/" "gatehouse-test/1\\.0"$`,
      ),
    );
  });

  test('combined: a proxy-made error page is logged with its body bytes (nginx $body_bytes_sent)', async (t) => {
    const path = tempLog(t);
    const proxy = await startProxy(t, {
      upstream: { servers: servers(await closedPort()) },
      access_log: { format: 'combined', path },
    });
    const reply = await request(proxy.port, { path: '/down' });
    assert.equal(reply.status, 502);
    await proxy.close();
    const [line] = await logLines(path, 1);
    assert.match(line ?? '', new RegExp(`"GET /down HTTP/1\\.1" 502 ${reply.body.length} `));
  });

  test('json: request id and upstream match what the client and worker saw', async (t) => {
    const path = tempLog(t);
    const proxy = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      access_log: { format: 'json', path },
    });
    const reply = await request(proxy.port, { path: '/healthz' });
    await proxy.close();
    const [line] = await logLines(path, 1);
    const entry = JSON.parse(line ?? '{}') as Record<string, unknown>;
    assert.equal(entry.request_id, reply.headers['x-request-id']);
    assert.equal(entry.upstream, `127.0.0.1:${worker.port}`);
    assert.equal(entry.status, 200);
    assert.equal(entry.uri, '/healthz');
    assert.equal(entry.body_bytes_sent, reply.body.length);
    assert.equal(typeof entry.request_time, 'number');
  });

  test('the logged client address is the realip address behind a trusted proxy', async (t) => {
    const path = tempLog(t);
    const proxy = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      trusted_proxies: ['127.0.0.1'],
      access_log: { format: 'combined', path },
    });
    await request(proxy.port, { path: '/healthz', headers: { 'X-Forwarded-For': '203.0.113.7' } });
    await proxy.close();
    const [line] = await logLines(path, 1);
    assert.match(line ?? '', /^203\.0\.113\.7 - - /);
  });
});
