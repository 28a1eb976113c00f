import assert from 'node:assert/strict';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { describe, type TestContext, test } from 'node:test';
import type { GatewayApp } from '../../app/gateway.js';
import { createSite } from '../../app/site/index.js';
import { createWorker } from '../../app/worker.js';
import { createLogger } from '../../process/logger.js';

/**
 * workers.concurrency in a worker (app/concurrency.ts): past the limit requests wait, in arrival
 * order, and none is refused. Timing is asserted as the order of server-side events (when the app
 * got a request, when its response finished), never as wall-clock durations.
 */

interface Served {
  path: string;
  start: number;
  end: number;
}

interface Started {
  port: number;
  /** Requests the app saw, in the order they finished. */
  served: Served[];
  /** Paths (with the query) in the order the app got them. */
  started: string[];
  connections: () => number;
}

async function startWorker(t: TestContext, concurrency: number | null): Promise<Started> {
  const site = createSite({ diagnostics: true, bodyLimit: 1024 });
  const started: string[] = [];
  const starts = new Map<Request, number>();
  // The site, plus a note of when the app got each request: the gate's effect, seen from inside.
  const app: GatewayApp = {
    fetch: (request, context) => {
      starts.set(request, performance.now());
      started.push(pathOf(request));
      return site.fetch!(request, context);
    },
  };
  const worker = createWorker({
    app,
    logger: createLogger({ name: 'worker', level: 'silent' }),
    concurrency,
    healthPath: '/healthz',
    gracePeriod: 500,
  });
  const served: Served[] = [];
  let connections = 0;
  worker.server.on('connection', () => connections++);
  worker.server.on('request', (req: IncomingMessage, res) => {
    res.once('finish', () => {
      const start = [...starts.entries()].find(([r]) => pathOf(r) === req.url);
      served.push({ path: req.url ?? '', start: start?.[1] ?? Number.NaN, end: performance.now() });
      if (start) starts.delete(start[0]);
    });
  });
  const { port } = await worker.listen();
  t.after(() => worker.shutdown());
  return { port, served, started, connections: () => connections };
}

/** The path and query, as the worker's req.url has them. */
function pathOf(request: Request): string {
  const url = new URL(request.url);
  return url.pathname + url.search;
}

function get(port: number, path: string, agent: Agent | false = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end();
  });
}

/** Whether any two of these requests were in the app at the same time. */
function overlapped(served: readonly Served[]): boolean {
  const byStart = [...served].sort((a, b) => a.start - b.start);
  return byStart.some((s, i) => i > 0 && s.start < byStart[i - 1]!.end);
}

describe('workers.concurrency', { timeout: 30_000 }, () => {
  test('concurrency 1: of two concurrent /delay/300 the second starts only after the first ended, and none is refused', async (t) => {
    const worker = await startWorker(t, 1);
    const statuses = await Promise.all([get(worker.port, '/delay/300?a'), get(worker.port, '/delay/300?b')]);
    assert.deepEqual(statuses, [200, 200]);
    assert.equal(worker.served.length, 2);
    const [first, second] = worker.served as [Served, Served];
    assert.ok(
      second.start >= first.end,
      `second started ${first.end - second.start} ms before the first ended`,
    );
  });

  test('concurrency null: two concurrent /delay/300 are in the app at the same time', async (t) => {
    const worker = await startWorker(t, null);
    await Promise.all([get(worker.port, '/delay/300?a'), get(worker.port, '/delay/300?b')]);
    assert.equal(overlapped(worker.served), true);
  });

  test('concurrency 2: of five concurrent requests never more than two run, and they start in arrival order', async (t) => {
    const worker = await startWorker(t, 2);
    const paths = ['/delay/150?1', '/delay/150?2', '/delay/150?3', '/delay/150?4', '/delay/150?5'];
    const answers: Promise<number>[] = [];
    for (const path of paths) {
      answers.push(get(worker.port, path));
      // Spaced out so that arrival order is known; the gate keeps it.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(await Promise.all(answers), [200, 200, 200, 200, 200]);
    const events = worker.served.flatMap((s) => [
      { at: s.start, delta: 1 },
      { at: s.end, delta: -1 },
    ]);
    events.sort((a, b) => a.at - b.at || a.delta - b.delta);
    let running = 0;
    let most = 0;
    for (const e of events) {
      running += e.delta;
      most = Math.max(most, running);
    }
    assert.equal(most, 2);
    assert.deepEqual(worker.started, paths);
    assert.deepEqual(
      [...worker.served].sort((a, b) => a.start - b.start).map((s) => s.path),
      paths,
    );
  });

  test('keep-alive connections do not get past the limit: requests on pooled connections wait too', async (t) => {
    const worker = await startWorker(t, 1);
    // As the proxy's upstream pool: several connections kept open to one worker.
    const agent = new Agent({ keepAlive: true, maxSockets: 3 });
    t.after(() => agent.destroy());
    const round = () => Promise.all([1, 2, 3].map((i) => get(worker.port, `/delay/100?${i}`, agent)));
    await round();
    worker.served.length = 0;
    assert.deepEqual(await round(), [200, 200, 200]);
    assert.equal(worker.connections(), 3, 'the second round did not reuse the three pooled connections');
    assert.equal(overlapped(worker.served), false);
  });

  test('a waiting request whose client left is never started; the next one is', async (t) => {
    const worker = await startWorker(t, 1);
    const first = get(worker.port, '/delay/300');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const leaver = httpRequest({ host: '127.0.0.1', port: worker.port, path: '/status/201', agent: false });
    leaver.on('error', () => {});
    leaver.end();
    await new Promise((resolve) => setTimeout(resolve, 50));
    leaver.destroy();
    const third = get(worker.port, '/status/202');
    assert.deepEqual(await Promise.all([first, third]), [200, 202]);
    assert.deepEqual(worker.started, ['/delay/300', '/status/202']);
  });

  test('health probes do not wait behind a busy worker', async (t) => {
    const worker = await startWorker(t, 1);
    const slow = get(worker.port, '/delay/1000');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await get(worker.port, '/healthz'), 200);
    // Answered while the slow request still held the only slot.
    assert.deepEqual(
      worker.served.map((s) => s.path),
      ['/healthz'],
    );
    assert.equal(await slow, 200);
  });
});
