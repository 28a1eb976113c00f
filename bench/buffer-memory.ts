import { setMaxListeners } from 'node:events';
import { readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { startBackend } from './backends.js';
import { FRONTS } from './fronts.js';
import { processTree, rssBytes } from './proc-stat.js';
import type { PhaseContext } from './rounds.js';

/**
 * --slow-clients, part two: what request buffering costs the proxy. 200 uploads of 10 MB at once
 * through our proxy (buffering on, its temp files in the bench's scratch dir) to the minimal
 * backend, which reads and drops bodies. The proxy's RSS and the bytes in its temp folder are
 * sampled every 100 ms. Bounded: one burst, cut after TIME_CAP_MS.
 */

const UPLOADS = 200;
const UPLOAD_BYTES = 10 * 1000 * 1000;
const TIME_CAP_MS = 180_000;
const CHUNK = Buffer.alloc(64 * 1024, 0x63);

export interface BufferMemoryResult {
  uploads: number;
  ok: number;
  /** Answered 503: max_disk was full. */
  unavailable: number;
  /** Other statuses, resets, and uploads cut by the time cap. */
  failed: number;
  seconds: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  tempPeakMb: number;
  tempPath: string;
}

/** Bytes in the files under `dir` (0 when it does not exist); files that vanish midway count 0. */
export function folderBytes(dir: string): number {
  let total = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return 0;
  }
  for (const entry of entries) {
    try {
      const stat = statSync(join(dir, entry));
      if (stat.isFile()) total += stat.size;
    } catch {}
  }
  return total;
}

/** One upload written as fast as the proxy takes it: its status, or 0 when it failed. */
function upload(url: string, signal: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, {
      method: 'POST',
      agent: false,
      signal,
      headers: { 'content-type': 'application/octet-stream', 'content-length': UPLOAD_BYTES },
    });
    req.once('response', (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', () => resolve(0));
    });
    req.once('error', () => resolve(0));
    let left = UPLOAD_BYTES;
    const write = () => {
      while (left > 0) {
        const size = Math.min(left, CHUNK.length);
        left -= size;
        if (!req.write(size === CHUNK.length ? CHUNK : CHUNK.subarray(0, size))) {
          req.once('drain', write);
          return;
        }
      }
      req.end();
    };
    write();
  });
}

export async function runBufferMemory(ctx: PhaseContext): Promise<BufferMemoryResult> {
  ctx.log(`— buffering memory: ${UPLOADS} uploads of ${UPLOAD_BYTES / 1e6} MB at once —`);
  const tempPath = join(ctx.dir, 'buffers');
  const backend = await startBackend('hello', ctx.dir);
  const proxy = await FRONTS.gatehouse.start({
    upstream: backend.upstream,
    dir: ctx.dir,
    // Room for every body, so that the peak shows what the proxy holds rather than where max_disk cuts.
    extra: { client_max_body_size: '16m', buffering: { temp_path: tempPath, max_disk: '3g' } },
  });
  const rss = () => rssBytes(processTree(proxy.pid!)) / 2 ** 20;
  const controller = new AbortController();
  // One signal cuts every upload at the time cap: 200 listeners on it are expected.
  setMaxListeners(UPLOADS + 10, controller.signal);
  const cap = setTimeout(() => controller.abort(), TIME_CAP_MS);
  const rssBeforeMb = rss();
  let rssPeakMb = rssBeforeMb;
  let tempPeakMb = 0;
  const sample = () => {
    rssPeakMb = Math.max(rssPeakMb, rss());
    tempPeakMb = Math.max(tempPeakMb, folderBytes(tempPath) / 2 ** 20);
  };
  const sampler = setInterval(sample, 100);
  const started = performance.now();
  try {
    const statuses = await Promise.all(
      Array.from({ length: UPLOADS }, () => upload(`${proxy.url}/upload`, controller.signal)),
    );
    sample();
    return {
      uploads: UPLOADS,
      ok: statuses.filter((s) => s >= 200 && s < 300).length,
      unavailable: statuses.filter((s) => s === 503).length,
      failed: statuses.filter((s) => s !== 503 && (s < 200 || s >= 300)).length,
      seconds: (performance.now() - started) / 1000,
      rssBeforeMb,
      rssPeakMb,
      tempPeakMb,
      tempPath,
    };
  } finally {
    clearInterval(sampler);
    clearTimeout(cap);
    await proxy.stop();
    await backend.process.stop();
  }
}
