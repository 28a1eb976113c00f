import { startBackend } from './backends.js';
import { FRONTS } from './fronts.js';
import { runLoad } from './load/index.js';
import type { BenchOptions } from './options.js';
import { processTree, rssBytes } from './proc-stat.js';
import type { PhaseContext } from './rounds.js';
import { fixed } from './stats.js';

const CONNECTIONS = 50;
const FIRST = 10_000;
const SEGMENT = 50_000;

export interface RssPoint {
  requests: number;
  seconds: number;
  rssMb: number;
}

export interface SoakResult {
  target: number;
  requests: number;
  seconds: number;
  rps: number;
  errors: number;
  stoppedBy: 'count' | 'time';
  rssAfterFirstMb: number;
  rssAtEndMb: number;
  peakRssMb: number;
  points: RssPoint[];
}

/**
 * Memory under a long run: GET 12 B through our proxy (whole contract on, access log to a file),
 * 50 connections, in bursts of a fixed count (autocannon `amount`) so the proxy's RSS is read at
 * known totals — after the first 10 k, then every 50 k — and every 5 s in between for the peak.
 * Bounded: stops at the target count or the time limit, whichever comes first.
 */
export async function runSoak(options: BenchOptions, ctx: PhaseContext): Promise<SoakResult> {
  const target = options.soakRequests;
  const limitMs = options.soakMinutes * 60_000;
  ctx.log(`— soak: ${target} requests or ${options.soakMinutes} minutes —`);
  const backend = await startBackend('hello', ctx.dir);
  const proxy = await FRONTS.gatehouse.start({ upstream: backend.upstream, dir: ctx.dir });
  const rss = () => rssBytes(processTree(proxy.pid!)) / 2 ** 20;
  const started = Date.now();
  const points: RssPoint[] = [];
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rss());
  }, 5000);
  let requests = 0;
  let errors = 0;
  try {
    points.push({ requests: 0, seconds: 0, rssMb: rss() });
    while (requests < target && Date.now() - started < limitMs) {
      const amount = Math.min(requests === 0 ? FIRST : SEGMENT, target - requests);
      const result = await runLoad(
        'autocannon',
        { url: `${proxy.url}/`, connections: CONNECTIONS, method: 'GET', bodyBytes: 0, duration: 0, amount },
        ctx.tools,
      );
      requests += result.requests;
      errors += result.non2xx + result.socketErrors;
      const point = { requests, seconds: (Date.now() - started) / 1000, rssMb: rss() };
      peak = Math.max(peak, point.rssMb);
      points.push(point);
      ctx.log(`soak: ${requests} requests, ${fixed(point.seconds, 0)} s, RSS ${fixed(point.rssMb, 1)} MB`);
    }
  } finally {
    clearInterval(sampler);
    await proxy.stop();
    await backend.process.stop();
  }
  const seconds = (Date.now() - started) / 1000;
  const first = points.find((p) => p.requests >= FIRST) ?? points[points.length - 1]!;
  const last = points[points.length - 1]!;
  const result: SoakResult = {
    target,
    requests,
    seconds,
    rps: requests / seconds,
    errors,
    stoppedBy: requests >= target ? 'count' : 'time',
    rssAfterFirstMb: first.rssMb,
    rssAtEndMb: last.rssMb,
    peakRssMb: peak,
    points,
  };
  console.log(
    `soak: ${requests} requests in ${fixed(seconds, 0)} s (${fixed(result.rps, 0)} req/s, ${errors} errors, ` +
      `stopped by ${result.stoppedBy}); proxy RSS after ${first.requests}: ${fixed(first.rssMb, 1)} MB, ` +
      `after ${requests}: ${fixed(last.rssMb, 1)} MB (Δ ${fixed(last.rssMb - first.rssMb, 1)} MB), peak ${fixed(peak, 1)} MB`,
  );
  return result;
}
