import autocannon from 'autocannon';
import type { LoadResult, LoadRun } from './types.js';

/**
 * Runs one autocannon burst in its own process, so the load generator never shares an event loop
 * with the bench driver, and prints the result as one JSON line.
 * `node dist/bench/load/autocannon-child.js '<LoadRun as JSON>'`
 */
const run = JSON.parse(process.argv[2] ?? '{}') as LoadRun;
const result = await autocannon({
  url: run.url,
  connections: run.connections,
  duration: run.duration,
  ...(run.amount ? { amount: run.amount } : {}),
  method: run.method,
  ...(run.bodyBytes > 0
    ? {
        body: Buffer.alloc(run.bodyBytes, 'x'),
        headers: { 'content-type': 'application/octet-stream' },
      }
    : {}),
  pipelining: 1,
  timeout: 10,
});
const out: LoadResult = {
  tool: 'autocannon',
  requests: result.requests.total,
  seconds: result.duration,
  rps: result.duration > 0 ? result.requests.total / result.duration : 0,
  p50Ms: result.latency.p50,
  p99Ms: result.latency.p99,
  non2xx: result.non2xx,
  socketErrors: result.errors + result.timeouts,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
