import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { freePort } from '../test/helpers/net.js';
import { slowUpload, throttledDownload } from '../test/helpers/slow-clients.js';
import { FRONTS, type FrontId, GATEHOUSE_BIN } from './fronts.js';
import { type Managed, startProcess } from './processes.js';
import type { PhaseContext } from './rounds.js';

/**
 * --slow-clients, part one: what slow clients do to a sync worker (workers.concurrency 1) behind
 * each front. Slow uploaders drip their bodies while a normal client sends GET / at a steady pace
 * (its latency is what users of the site feel); then slow readers take big responses, and the
 * worker's own log says how long each kept it busy. Bounded: fixed counts, every wait capped.
 */

const UPLOADERS = 40;
const UPLOAD_BYTES = 16 * 1024;
/** 2 KiB a second: each upload takes ~8 s. */
const UPLOAD_CHUNK = 2 * 1024;
const GETS = 24;
const GET_EVERY_MS = 250;
const GET_CAP_MS = 20_000;
const READERS = 2;
/** Well past what the sockets between worker and reader hold (several MiB on loopback). */
const READ_BYTES = 32 * 1024 * 1024;
/** 4 MiB/s: ~8 s of reading per response. */
const READ_RATE = 4 * 1024 * 1024;
const READ_CAP_MS = 40_000;

export interface SlowFrontResult {
  front: string;
  /** GET / latencies in ms; null: not answered within GET_CAP_MS. */
  gets: Array<number | null>;
  getErrors: number;
  uploadsOk: number;
  /** The worker's busy time per slow response (ms, from its request log: duration − queued). */
  busyMs: number[];
}

interface Variant {
  label: string;
  front: FrontId;
  extra: Record<string, unknown>;
}

const VARIANTS: readonly Variant[] = [
  { label: 'gatehouse, buffering on', front: 'gatehouse', extra: {} },
  {
    label: 'gatehouse, buffering off',
    front: 'gatehouse',
    extra: { buffering: { request: false, response: false } },
  },
  { label: 'nginx (rendered config)', front: 'nginx', extra: {} },
];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A sample-site worker with concurrency 1, logging its request lines to its log file. */
async function startSyncWorker(dir: string, name: string): Promise<Managed & { port: number }> {
  const port = await freePort();
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ workers: { concurrency: 1 }, log_level: 'info' }));
  const worker = await startProcess({
    name,
    command: process.execPath,
    args: [GATEHOUSE_BIN, 'worker', '--config', file],
    logDir: dir,
    env: { PORT: String(port), HOST: '127.0.0.1' },
    port,
  });
  return Object.assign(worker, { port });
}

/** The worker's request lines for `prefix` so far. */
function requestLines(logFile: string, prefix: string): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  for (const text of readFileSync(logFile, 'utf8').split('\n')) {
    if (!text.startsWith('{')) continue;
    const line = JSON.parse(text) as Record<string, unknown>;
    if (line.msg === 'request' && String(line.path).startsWith(prefix)) lines.push(line);
  }
  return lines;
}

/** GET `url` on a fresh connection: ms until the whole answer, null past `cap`, NaN on an error. */
function timedGet(url: string, cap: number): Promise<number | null> {
  const sent = performance.now();
  return new Promise((resolve) => {
    const req = get(url, { agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode === 200 ? performance.now() - sent : Number.NaN));
    });
    req.setTimeout(cap, () => {
      req.destroy();
      resolve(null);
    });
    req.once('error', () => resolve(Number.NaN));
  });
}

async function uploadsAndGets(
  port: number,
): Promise<Pick<SlowFrontResult, 'gets' | 'getErrors' | 'uploadsOk'>> {
  const uploads = Array.from({ length: UPLOADERS }, () =>
    slowUpload(port, { bytes: UPLOAD_BYTES, chunk: UPLOAD_CHUNK, every: 1000 }),
  );
  try {
    await sleep(500);
    const answers: Array<Promise<number | null>> = [];
    for (let i = 0; i < GETS; i++) {
      answers.push(timedGet(`http://127.0.0.1:${port}/`, GET_CAP_MS));
      await sleep(GET_EVERY_MS);
    }
    const all = await Promise.all(answers);
    const done = await Promise.race([
      Promise.all(uploads.map((u) => u.done)),
      sleep(GET_CAP_MS).then(() => []),
    ]);
    return {
      gets: all.filter((ms) => !Number.isNaN(ms)),
      getErrors: all.filter((ms) => Number.isNaN(ms)).length,
      uploadsOk: done.filter((d) => d?.status === 200).length,
    };
  } finally {
    for (const upload of uploads) upload.cancel();
  }
}

async function slowReaders(port: number, worker: Managed): Promise<number[]> {
  const path = `/bytes/${READ_BYTES}`;
  const downloads = Array.from({ length: READERS }, () => throttledDownload(port, path, READ_RATE));
  try {
    const deadline = Date.now() + READ_CAP_MS;
    while (Date.now() < deadline && requestLines(worker.logFile, path).length < READERS) await sleep(100);
    return requestLines(worker.logFile, path).map((l) => Number(l.duration) - Number(l.queued ?? 0));
  } finally {
    for (const download of downloads) download.cancel();
  }
}

export async function runSlowClients(ctx: PhaseContext): Promise<SlowFrontResult[]> {
  const results: SlowFrontResult[] = [];
  for (const variant of VARIANTS) {
    const why = FRONTS[variant.front].unavailable();
    if (why) {
      ctx.skipped.set(variant.front, why);
      continue;
    }
    ctx.log(`— slow clients: ${variant.label} —`);
    const worker = await startSyncWorker(ctx.dir, `sync-worker-${results.length}`);
    const upstream = { host: '127.0.0.1', port: worker.port, pid: worker.pid };
    const front = await FRONTS[variant.front].start({ upstream, dir: ctx.dir, extra: variant.extra });
    try {
      const port = Number(new URL(front.url).port);
      const part = await uploadsAndGets(port);
      const busyMs = await slowReaders(port, worker);
      results.push({ front: variant.label, ...part, busyMs });
    } finally {
      await front.stop();
      await worker.stop();
    }
  }
  return results;
}
