import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from './run-tool.js';
import type { LoadResult, LoadRun } from './types.js';

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function latencyMs(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  return match ? Number(match[1]) * (UNIT_MS[match[2]!] ?? 1) : Number.NaN;
}

/** Parses wrk's report (`--latency` on). Exported for its unit of truth: the text wrk prints. */
export function parseWrk(text: string): LoadResult {
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),/m.exec(text);
  if (!total) throw new Error(`unexpected wrk output:\n${text}`);
  const requests = Number(total[1]);
  const seconds = (Number(total[2]) * (UNIT_MS[total[3]!] ?? 1)) / 1000;
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    tool: 'wrk',
    requests,
    seconds,
    rps: seconds > 0 ? requests / seconds : 0,
    p50Ms: latencyMs(text, '50'),
    p99Ms: latencyMs(text, '99'),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: socket ? socket.slice(1, 5).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

/** A POST body for wrk is a Lua script; one per body size, written once into the run's directory. */
function postScript(dir: string, bytes: number): string {
  const file = join(dir, `wrk-post-${bytes}.lua`);
  writeFileSync(
    file,
    [
      'wrk.method = "POST"',
      `wrk.body = string.rep("x", ${bytes})`,
      'wrk.headers["Content-Type"] = "application/octet-stream"',
      '',
    ].join('\n'),
  );
  return file;
}

/**
 * One wrk burst (one thread: the machine has two cores to share with the front and the backend).
 * `extraArgs` go before the URL (the TLS bench's `-H "Connection: close"`: a handshake per request).
 */
export function runWrk(
  bin: string,
  run: LoadRun,
  dir: string,
  extraArgs: readonly string[] = [],
): Promise<LoadResult> {
  const seconds = Math.max(1, Math.round(run.duration));
  const args = [
    '-t1',
    `-c${run.connections}`,
    `-d${seconds}s`,
    '--timeout',
    '10s',
    '--latency',
    ...extraArgs,
  ];
  if (run.method === 'POST') args.push('-s', postScript(dir, run.bodyBytes));
  args.push(run.url);
  return runTool(bin, args, seconds, parseWrk);
}
