import { parseArgs } from 'node:util';
import { FRONT_IDS, type FrontId } from './fronts.js';
import type { LoadTool } from './load/index.js';
import { findLoad, LOADS, type LoadSpec } from './loads.js';

export interface BenchOptions {
  quick: boolean;
  rounds: number;
  /** Seconds per burst. */
  duration: number;
  only: ReadonlySet<FrontId> | null;
  /** --loads, or null: each study has its own default. */
  loads: readonly LoadSpec[] | null;
  /** --tools, or null: each study has its own default. */
  tools: readonly LoadTool[] | null;
  wrkInstalled: boolean;
  /** Which studies run; none given: the main table (plus the CGI comparison unless --quick). */
  cgi: boolean;
  soak: boolean;
  transports: boolean;
  profile: boolean;
  /** Slow uploaders and readers against a sync worker per front, and the buffering proxy's memory. */
  slowClients: boolean;
  /** Each front over TLS: HTTP/1.1 keep-alive (wrk), HTTP/2 (h2load), handshakes per second. */
  tls: boolean;
  /** A 16 KiB file from a static route, keep-alive, 50 connections: our proxy vs nginx. */
  static: boolean;
  soakRequests: number;
  soakMinutes: number;
  help: boolean;
}

export const USAGE = `npm run bench -- [options]      (node dist/bench/run.js [options])

  --quick              under a minute: 3 short rounds, GET 12 B at 50 connections, one load tool
  --rounds N           interleaved rounds (default 3; --transports 5)
  --duration S         seconds per burst (default 3; --quick 1)
  --only F,...         fronts: ${FRONT_IDS.join(', ')}
  --loads L,...        loads: ${LOADS.map((l) => l.id).join(', ')}
  --tools T,...        autocannon, wrk (default both when wrk is installed)
  --cgi                the process-model comparison only: CGI-style (a process per request) vs the pool
  --soak               1 M requests through the proxy (or 10 minutes), proxy RSS sampled
  --soak-requests N    requests for --soak (default 1000000)
  --soak-minutes M     time bound for --soak (default 10)
  --transports         the transport study: minimal proxies with our header rules, vs nginx
  --profile            our proxy under --cpu-prof (50 connections, 10 s); top self time by function
  --slow-clients       slow uploaders and readers vs a sync worker (concurrency 1) per front, then
                       200 concurrent 10 MB uploads through the buffering proxy (RSS, temp space)
  --tls                each front over TLS, one process each: HTTP/1.1 keep-alive (wrk), HTTP/2
                       (h2load), a new connection per request (handshakes/s); ratios to nginx
  --static             a 16 KiB file from a static route, keep-alive, 50 connections, our proxy (one
                       process) vs nginx (one worker); the ratio to nginx (also part of the full run)
  --help`;

function list(value: string | undefined): string[] | null {
  return value
    ? value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
    : null;
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0)
    throw new Error(`--${name}: expected a positive number, got "${value}"`);
  return number;
}

export function parseOptions(argv: readonly string[], wrkInstalled: boolean): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      only: { type: 'string' },
      loads: { type: 'string' },
      tools: { type: 'string' },
      cgi: { type: 'boolean', default: false },
      soak: { type: 'boolean', default: false },
      transports: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'slow-clients': { type: 'boolean', default: false },
      tls: { type: 'boolean', default: false },
      static: { type: 'boolean', default: false },
      'soak-requests': { type: 'string' },
      'soak-minutes': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const quick = values.quick ?? false;
  const only = list(values.only);
  for (const id of only ?? []) {
    if (!FRONT_IDS.includes(id as FrontId)) {
      throw new Error(`--only: unknown front "${id}" (expected ${FRONT_IDS.join(', ')})`);
    }
  }
  const tools = list(values.tools) as LoadTool[] | null;
  for (const tool of tools ?? []) {
    if (tool !== 'wrk' && tool !== 'autocannon') throw new Error(`--tools: unknown tool "${tool}"`);
    if (tool === 'wrk' && !wrkInstalled) throw new Error('--tools wrk: wrk is not installed');
  }
  const loads = list(values.loads)?.map(findLoad) ?? null;
  return {
    quick,
    rounds: Math.round(positive('rounds', values.rounds, values.transports ? 5 : 3)),
    duration: positive('duration', values.duration, quick ? 1 : 3),
    only: only ? new Set(only as FrontId[]) : null,
    loads,
    tools,
    wrkInstalled,
    cgi: values.cgi ?? false,
    soak: values.soak ?? false,
    transports: values.transports ?? false,
    profile: values.profile ?? false,
    slowClients: values['slow-clients'] ?? false,
    tls: values.tls ?? false,
    static: values.static ?? false,
    soakRequests: Math.round(positive('soak-requests', values['soak-requests'], 1_000_000)),
    soakMinutes: positive('soak-minutes', values['soak-minutes'], 10),
    help: values.help ?? false,
  };
}
