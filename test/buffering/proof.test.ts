import assert from 'node:assert/strict';
import { get } from 'node:http';
import { describe, type TestContext, test } from 'node:test';
import { type Front, gatehouseFront, nginxFront } from '../conformance/fronts.js';
import type { LogLine } from '../helpers/child.js';
import { type SlowUpload, slowUpload, throttledDownload } from '../helpers/slow-clients.js';
import { requires } from '../helpers/system-deps.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';

/**
 * The proof of issue 14, end to end: a slow client never holds a sync worker. One real worker
 * process with workers.concurrency 1 (gunicorn's sync worker) behind our proxy or real nginx on
 * the config rendered from the same keys. With buffering on, slow uploaders and a slow reader
 * leave the worker free; with it off, they hold it.
 *
 * Every bound is an ordering or an order-of-magnitude gap (2 s against 7 s, a quarter against a
 * half of a download), so a loaded 2-core machine cannot flip a result.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
/** 10 uploads of 8 KiB at 1 KiB/s: each takes ~7 s (the first KiB goes at once). */
const UPLOADERS = 10;
/** 32 MiB read at 2 MiB/s: ~16 s for the client, well under a second for the worker to write. */
const DOWNLOAD = 32 * MiB;
const READ_RATE = 2 * MiB;
/**
 * Without buffering, what the sockets between worker, front and reader can hold still comes ahead
 * of the reader: loopback receive buffers grow up to tcp_rmem's maximum (32 MiB here) and send
 * buffers to 4 MiB, about 72 MiB in all. With 32 MiB, nginx's worker once finished when the reader
 * had under a quarter. So this response is larger than those buffers can hold plus a quarter, and
 * read faster to keep the test short: a quarter (32 MiB) after ~4 s.
 */
const UNBUFFERED_DOWNLOAD = 128 * MiB;
const UNBUFFERED_READ_RATE = 8 * MiB;

interface Stack {
  worker: WorkerProcess;
  port: number;
}

/** A concurrency-1 worker and `front` before it, with `buffering` over the defaults; all stopped after the test. */
async function startStack(t: TestContext, front: Front, buffering: Record<string, boolean>): Promise<Stack> {
  const worker = await startWorker({
    config: { workers: { concurrency: 1, grace_period: '500ms' }, log_level: 'info' },
  });
  t.after(() => worker.stop({ timeout: 3000 }));
  const started = await front.start({
    servers: [`127.0.0.1:${worker.port}`],
    overrides: { buffering },
  });
  t.after(() => started.stop());
  return { worker, port: started.port };
}

/** GET `path` on a fresh connection: when the whole answer was in (Date.now) and its status. */
function getOnce(port: number, path: string): Promise<{ at: number; status: number }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve({ at: Date.now(), status: res.statusCode ?? 0 }));
    }).once('error', reject);
  });
}

/** When the first of `uploads` got its whole answer (Date.now). */
function firstFinished(uploads: readonly SlowUpload[]): Promise<number> {
  return new Promise((resolve) => {
    for (const upload of uploads) void upload.done.then((done) => done && resolve(done.at));
  });
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Ten slow uploads, then a normal GET / 500 ms later: when each side finished. */
async function uploadsThenGet(t: TestContext, stack: Stack) {
  const uploads = Array.from({ length: UPLOADERS }, () =>
    slowUpload(stack.port, { bytes: 8 * KiB, chunk: KiB, every: 1000 }),
  );
  t.after(() => {
    for (const upload of uploads) upload.cancel();
  });
  // Long enough for every upload's head to be through the front, before GET / comes.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const sentAt = Date.now();
  return { sentAt, answer: getOnce(stack.port, '/'), firstUpload: firstFinished(uploads) };
}

/** The worker's request line for GET /bytes/…: written when the response finished or was cut. */
function bytesLine(worker: WorkerProcess, timeout: number): Promise<LogLine> {
  return worker.waitForLog((l) => l.msg === 'request' && String(l.path).startsWith('/bytes/'), timeout);
}

const frontsOn: ReadonlyArray<[string, Front, { skip: string | false }]> = [
  ['our proxy', gatehouseFront, { skip: false }],
  ['nginx', nginxFront, requires('nginx')],
];

describe('buffering proof: slow clients and a sync worker (concurrency 1)', { timeout: 120_000 }, () => {
  for (const [name, front, needs] of frontsOn) {
    test(
      `${name}, buffering on: a GET / is answered within 2 s while ten uploads drip at 1 KiB/s`,
      needs,
      async (t) => {
        const stack = await startStack(t, front, {});
        const { sentAt, answer, firstUpload } = await uploadsThenGet(t, stack);
        const first = firstUpload.then((at) => ({ upload: at }));
        const got = await within(Promise.race([answer, first]), 20_000, 'GET / or an upload');
        assert.ok('status' in got, 'an ~7 s upload finished before GET / was answered');
        assert.equal(got.status, 200);
        t.diagnostic(`GET / answered after ${got.at - sentAt} ms`);
        assert.ok(got.at - sentAt < 2000, `GET / took ${got.at - sentAt} ms`);
      },
    );
  }

  test('our proxy, buffering.request false: GET / waits until the first upload is through', async (t) => {
    const stack = await startStack(t, gatehouseFront, { request: false });
    const { sentAt, answer, firstUpload } = await uploadsThenGet(t, stack);
    const first = await within(firstUpload, 20_000, 'the first upload');
    const got = await within(answer, 20_000, 'GET /');
    // Waited in the worker's line, and was served: no 503.
    assert.equal(got.status, 200);
    t.diagnostic(`first upload through after ${first - sentAt} ms, GET / after ${got.at - sentAt} ms`);
    assert.ok(got.at >= first, `GET / answered ${first - got.at} ms before the first upload was through`);
  });

  for (const [name, front, needs] of frontsOn) {
    test(
      `${name}, buffering on: the worker writes 32 MiB before a 2 MiB/s reader has half of it`,
      needs,
      async (t) => {
        const stack = await startStack(t, front, {});
        const download = throttledDownload(stack.port, `/bytes/${DOWNLOAD}`, READ_RATE);
        t.after(() => download.cancel());
        const startedAt = Date.now();
        const outcome = await within(
          Promise.race([
            bytesLine(stack.worker, 30_000).then((line) => ({ line })),
            download.reached(DOWNLOAD / 2).then((at) => ({ half: at })),
          ]),
          30_000,
          'the worker finishing or the reader getting half',
        );
        assert.ok(
          'line' in outcome,
          'the reader got half of the response before the worker finished writing',
        );
        assert.equal(outcome.line.aborted, false);
        const finishedAt = Date.parse(String(outcome.line.time));
        const readThen = download.readBy(finishedAt);
        t.diagnostic(
          `worker done after ${finishedAt - startedAt} ms; the reader had ${(readThen / MiB).toFixed(1)} MiB`,
        );
        assert.ok(readThen < DOWNLOAD / 2);
      },
    );
  }

  for (const [name, front, needs] of frontsOn) {
    test(
      `${name}, buffering.response false: the worker is still writing when the reader has a quarter`,
      needs,
      async (t) => {
        const stack = await startStack(t, front, { response: false });
        const download = throttledDownload(stack.port, `/bytes/${UNBUFFERED_DOWNLOAD}`, UNBUFFERED_READ_RATE);
        t.after(() => download.cancel());
        const quarterAt = await within(
          download.reached(UNBUFFERED_DOWNLOAD / 4),
          30_000,
          'a quarter of the response',
        );
        assert.ok(quarterAt !== null, 'the response ended before the reader had a quarter of it');
        // A line logged before the quarter would be in within a moment: give the pipe that moment.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const early = stack.worker.logs.find(
          (l) =>
            l.msg === 'request' &&
            String(l.path).startsWith('/bytes/') &&
            l.aborted === false &&
            Date.parse(String(l.time)) <= quarterAt,
        );
        assert.equal(early, undefined, 'the worker finished writing before the reader had a quarter');
      },
    );
  }
});
