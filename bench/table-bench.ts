import type { FrontId } from './fronts.js';
import type { LoadTool } from './load/index.js';
import { BASE_FRONTS, findLoad, HEADLINE, HEADLINE_EXTRAS, LOADS, type LoadSpec } from './loads.js';
import type { BenchOptions } from './options.js';
import { aggregate, type Headline, headline, type Row } from './report.js';
import { type PhaseContext, runPhase, type Sample } from './rounds.js';

export interface TableResult {
  samples: Sample[];
  rows: Row[];
  headline: Headline;
}

/**
 * The main table: every load through every front, minimal backend first (the front is what is
 * measured), then the sample site (end to end). One phase per backend, rounds interleaved inside.
 */
export async function runTableBench(options: BenchOptions, ctx: PhaseContext): Promise<TableResult> {
  const allowed = (ids: readonly FrontId[]) => ids.filter((id) => !options.only || options.only.has(id));
  const frontsFor = (load: LoadSpec) =>
    allowed(load.id === HEADLINE ? [...BASE_FRONTS, ...HEADLINE_EXTRAS] : BASE_FRONTS);
  const allLoads = options.loads ?? (options.quick ? [findLoad(HEADLINE)] : LOADS);
  // --quick keeps one tool: wrk when installed (the machine's reference numbers were taken with it).
  const both: LoadTool[] = options.wrkInstalled ? ['wrk', 'autocannon'] : ['autocannon'];
  const tools = options.tools ?? (options.quick ? both.slice(0, 1) : both);
  const samples: Sample[] = [];
  for (const backend of ['hello', 'site'] as const) {
    const loads = allLoads.filter((l) => l.backend === backend);
    if (loads.length === 0) continue;
    ctx.log(`— ${backend === 'hello' ? 'minimal node:http backend' : 'sample-site worker (end to end)'} —`);
    samples.push(
      ...(await runPhase(
        {
          backend,
          loads,
          frontsFor,
          tools,
          rounds: options.rounds,
          duration: options.duration,
          warmup: options.quick ? 2 : 3,
        },
        ctx,
      )),
    );
  }
  return { samples, rows: aggregate(samples), headline: headline(samples) };
}
