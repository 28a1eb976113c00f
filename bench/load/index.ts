import { runAutocannon } from './autocannon.js';
import type { LoadResult, LoadRun, LoadTool } from './types.js';
import { runWrk } from './wrk.js';

export type { LoadResult, LoadRun, LoadTool } from './types.js';

export interface LoadTools {
  /** The wrk binary, or null when not installed. */
  wrk: string | null;
  /** Scratch directory (wrk's Lua scripts). */
  dir: string;
}

export function runLoad(tool: LoadTool, run: LoadRun, tools: LoadTools): Promise<LoadResult> {
  if (tool === 'wrk') {
    if (!tools.wrk) throw new Error('wrk is not installed');
    return runWrk(tools.wrk, run, tools.dir);
  }
  return runAutocannon(run);
}
