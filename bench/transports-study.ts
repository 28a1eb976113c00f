import type { FrontId } from './fronts.js';
import { checkHeaders, formatVerdicts, type HeaderVerdict } from './header-check.js';
import type { LoadTool } from './load/index.js';
import { findLoad } from './loads.js';
import type { BenchOptions } from './options.js';
import { aggregate, formatTable, type Row, ratio } from './report.js';
import { type PhaseContext, runPhase, type Sample } from './rounds.js';
import { fixed } from './stats.js';

// Our proxy first: the header check compares every other front with it.
const STUDY_FRONTS: readonly FrontId[] = [
  'gatehouse',
  'direct',
  'nginx',
  'tp-native',
  'tp-fetch',
  'tp-stream',
  'tp-dispatch',
  'tp-pipe',
];
const TRANSPORTS: readonly FrontId[] = ['tp-native', 'tp-fetch', 'tp-stream', 'tp-dispatch', 'tp-pipe'];

export interface TransportStudy {
  headers: HeaderVerdict[];
  samples: Sample[];
  rows: Row[];
  /** Per load: each transport's req/s relative to (a), http-proxy-3 native (medians of within-round ratios). */
  vsNative: Record<string, Record<string, number>>;
}

/**
 * Standalone minimal proxies with our header rules over each upstream transport, against nginx
 * and our full proxy, in the same interleaved rounds. Report only: the lead picks the transport.
 */
export async function runTransportStudy(options: BenchOptions, ctx: PhaseContext): Promise<TransportStudy> {
  const loads = options.loads?.filter((l) => l.backend === 'hello') ?? [
    findLoad('small-50'),
    findLoad('16k-50'),
    findLoad('post-64k-50'),
  ];
  const tools: readonly LoadTool[] = options.tools ?? [options.wrkInstalled ? 'wrk' : 'autocannon'];
  const fronts = STUDY_FRONTS.filter((id) => !options.only || options.only.has(id));
  const headers: HeaderVerdict[] = [];
  ctx.log('— transport study —');
  const samples = await runPhase(
    {
      backend: 'hello',
      loads,
      frontsFor: () => fronts,
      tools,
      rounds: options.rounds,
      duration: options.duration,
      warmup: 2,
      async beforeRounds(running) {
        for (const id of fronts) {
          const front = running.get(id);
          if (front && id !== 'direct') headers.push(await checkHeaders(front));
        }
      },
    },
    ctx,
  );
  const rows = aggregate(samples);
  const vsNative: Record<string, Record<string, number>> = {};
  for (const load of loads) {
    for (const tool of tools) {
      const key = `${load.id} ${tool}`;
      vsNative[key] = {};
      for (const id of TRANSPORTS) vsNative[key][id] = ratio(samples, load.id, tool, id, 'tp-native');
    }
  }
  console.log('header rules, as the backend saw them (≠: differs from our proxy):');
  console.log(formatVerdicts(headers));
  console.log('');
  console.log(formatTable(rows));
  console.log('');
  for (const [key, ratios] of Object.entries(vsNative)) {
    console.log(
      `${key}: req/s vs (a) native — ${Object.entries(ratios)
        .map(([id, r]) => `${id} ${fixed(r, 2)}×`)
        .join(', ')}`,
    );
  }
  for (const [id, why] of ctx.skipped) console.log(`skipped ${id}: ${why}`);
  return { headers, samples, rows, vsNative };
}
