import { type BackendKind, startBackend } from './backends.js';
import { FRONTS, type FrontId, type RunningFront } from './fronts.js';
import { type LoadResult, type LoadTool, type LoadTools, runLoad } from './load/index.js';
import type { LoadSpec } from './loads.js';
import { cpuMicros, processTree, rssBytes } from './proc-stat.js';

/** One measured burst: one front, one load, one tool, in one round. */
export interface Sample {
  phase: BackendKind;
  round: number;
  load: string;
  tool: LoadTool;
  front: FrontId;
  label: string;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  socketErrors: number;
  /** CPU time of the front's process tree during the burst, per completed request; null for direct. */
  cpuUsPerRequest: number | null;
  /** VmRSS of the front's process tree after the burst. */
  rssBytes: number | null;
}

export interface PhasePlan {
  backend: BackendKind;
  /** Module the site worker serves instead of the sample site (the CGI comparison's tiny app). */
  appModule?: string;
  loads: readonly LoadSpec[];
  frontsFor(load: LoadSpec): readonly FrontId[];
  tools: readonly LoadTool[];
  rounds: number;
  /** Seconds per burst. */
  duration: number;
  /** Seconds of unrecorded load per front before round 1 (JIT, connection pools). */
  warmup: number;
  /** Runs once every front is up, before any load (the transport study checks header rules here). */
  beforeRounds?(fronts: ReadonlyMap<FrontId, RunningFront>): Promise<void>;
}

export interface PhaseContext {
  dir: string;
  tools: LoadTools;
  log(line: string): void;
  /** Fronts that could not run, with why. */
  skipped: Map<FrontId, string>;
}

async function measure(
  front: RunningFront,
  load: LoadSpec,
  tool: LoadTool,
  duration: number,
  tools: LoadTools,
): Promise<{ result: LoadResult; cpuUsPerRequest: number | null; rssBytes: number | null }> {
  const pids = front.pid ? processTree(front.pid) : [];
  const before = cpuMicros(pids);
  const result = await runLoad(
    tool,
    {
      url: `${front.url}${load.path}`,
      connections: load.connections,
      method: load.method,
      bodyBytes: load.bodyBytes,
      duration,
    },
    tools,
  );
  const used = cpuMicros(pids) - before;
  return {
    result,
    cpuUsPerRequest: front.pid && result.requests > 0 ? used / result.requests : null,
    rssBytes: front.pid ? rssBytes(processTree(front.pid)) : null,
  };
}

/**
 * One backend, its fronts, and the rounds: in each round every load is driven through every front
 * in turn (A B C D, A B C D, …), so drift from other work on the machine hits all fronts alike.
 * Everything started here is stopped here, pass or fail.
 */
export async function runPhase(plan: PhasePlan, ctx: PhaseContext): Promise<Sample[]> {
  const samples: Sample[] = [];
  const backend = await startBackend(plan.backend, ctx.dir, plan.appModule);
  const fronts = new Map<FrontId, RunningFront>();
  try {
    const wanted = [...new Set(plan.loads.flatMap((l) => plan.frontsFor(l)))];
    for (const id of wanted) {
      const spec = FRONTS[id];
      const why = spec.unavailable();
      if (why) {
        ctx.skipped.set(id, why);
        continue;
      }
      try {
        fronts.set(id, await spec.start({ upstream: backend.upstream, dir: ctx.dir }));
      } catch (err) {
        ctx.skipped.set(id, (err as Error).message.split('\n')[0] ?? 'failed to start');
        ctx.log(`! ${id} did not start: ${(err as Error).message}`);
      }
    }
    await plan.beforeRounds?.(fronts);
    if (plan.warmup > 0) {
      // Warm with concurrency: that is what JIT-compiles the hot path and fills the upstream pools.
      const first = plan.loads.find((l) => l.connections > 1) ?? plan.loads[0]!;
      for (const front of fronts.values()) {
        if (front.id === 'direct') continue;
        await measure(
          front,
          first,
          plan.tools.includes('wrk') ? 'wrk' : plan.tools[0]!,
          plan.warmup,
          ctx.tools,
        );
      }
    }
    for (let round = 1; round <= plan.rounds; round++) {
      for (const load of plan.loads) {
        for (const tool of plan.tools) {
          for (const id of plan.frontsFor(load)) {
            const front = fronts.get(id);
            if (!front) continue;
            const { result, cpuUsPerRequest, rssBytes } = await measure(
              front,
              load,
              tool,
              plan.duration,
              ctx.tools,
            );
            const sample: Sample = {
              phase: plan.backend,
              round,
              load: load.id,
              tool,
              front: id,
              label: front.label,
              requests: result.requests,
              rps: result.rps,
              p50Ms: result.p50Ms,
              p99Ms: result.p99Ms,
              non2xx: result.non2xx,
              socketErrors: result.socketErrors,
              cpuUsPerRequest,
              rssBytes,
            };
            samples.push(sample);
            ctx.log(
              `round ${round}/${plan.rounds} ${load.id} ${tool} ${id}: ${Math.round(sample.rps)} req/s` +
                (cpuUsPerRequest === null ? '' : `, ${Math.round(cpuUsPerRequest)} µs/req`) +
                (sample.non2xx + sample.socketErrors > 0
                  ? `, ${sample.non2xx + sample.socketErrors} errors`
                  : ''),
            );
          }
        }
      }
    }
  } finally {
    for (const front of [...fronts.values()].reverse()) await front.stop();
    await backend.process.stop();
  }
  return samples;
}
