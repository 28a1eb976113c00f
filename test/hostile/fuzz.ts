import { parseArgs } from 'node:util';
import { proxyQuiet } from '../helpers/proxy.js';
import { desyncs, formatReport, LOOPBACK_SOURCES, runFuzz } from './run.js';
import { runSlowReport } from './slow-report.js';
import { startFuzzTarget } from './target.js';

/**
 * The long runs of the hostile-input checks (npm run fuzz -- …):
 *   --n 1000000 --seed S [--from I] [--concurrency C] [--minutes M] [--family F]   generated inputs
 *   --slow 1000 [--seconds S]   a normal client's latency with that many slow attackers open
 * Exits 1 when any input failed (each printed with its seed and index, to replay with --from I --n 1).
 */
const USAGE = `usage: npm run fuzz -- [options]
  --n N            inputs (default 20000)
  --seed S         seed (default: from the clock, printed)
  --from I         first input index (replay one failure: --seed S --from I --n 1)
  --concurrency C  connections at once (default 100)
  --minutes M      time bound (default 30)
  --family F       only inputs of one family
  --slow N         instead: a normal client's p50/p99 with N slow attackers open, and the proxy's RSS
  --seconds S      with --slow: seconds per phase (default 20)`;

let parsed: ReturnType<typeof parseOptions>;
try {
  parsed = parseOptions();
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}
const { values } = parsed;

function parseOptions() {
  return parseArgs({
    options: {
      help: { type: 'boolean', short: 'h' },
      n: { type: 'string', default: '20000' },
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
      from: { type: 'string', default: '0' },
      concurrency: { type: 'string', default: '100' },
      minutes: { type: 'string', default: '30' },
      family: { type: 'string' },
      slow: { type: 'string' },
      seconds: { type: 'string', default: '20' },
    },
  });
}

function positive(name: string, text: string | undefined, min = 1): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    console.error(`--${name}: expected an integer ≥ ${min}, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

async function fuzz(): Promise<number> {
  const seed = positive('seed', values.seed, 0);
  const count = positive('n', values.n);
  const minutes = positive('minutes', values.minutes);
  const target = await startFuzzTarget(null);
  try {
    const baseline = target.fds();
    console.log(
      `fuzzing proxy pid ${target.proxy.pid} (fds ${baseline}) with seed ${seed}, ${count} inputs, ≤ ${minutes} min`,
    );
    const report = await runFuzz({
      port: target.proxy.port,
      seed,
      count,
      from: positive('from', values.from, 0),
      concurrency: positive('concurrency', values.concurrency),
      wait: 15_000,
      check: target.check,
      deadline: Date.now() + minutes * 60_000,
      sources: LOOPBACK_SOURCES,
      ...(values.family === undefined ? {} : { family: values.family }),
    });
    // Connections the proxy still holds once every client is gone are a leak too.
    const leak = await proxyQuiet(target.proxy.statusPort, 30_000).then(
      () => null,
      (err: Error) => err.message,
    );
    const failures = [...report.failures, ...desyncs(report, target.backends)];
    if (leak) failures.push({ seed, index: -1, reason: leak, input: '' });
    const crashes = target.proxy.crashes();
    for (const line of crashes)
      failures.push({ seed, index: -1, reason: `the proxy logged: ${JSON.stringify(line)}`, input: '' });
    console.log(formatReport(report, failures));
    console.log(
      `proxy fds: ${baseline} before, ${target.fds()} after; worker requests: ${target.backends.map((b) => b.requests).join(' + ')}`,
    );
    return failures.length === 0 ? 0 : 1;
  } finally {
    await target.close();
  }
}

const run =
  values.slow === undefined
    ? fuzz()
    : runSlowReport(positive('slow', values.slow), positive('seconds', values.seconds));
run.then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
