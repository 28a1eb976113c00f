import { runTool } from './run-tool.js';

/** One h2load burst's outcome. */
export interface H2loadResult {
  requests: number;
  seconds: number;
  rps: number;
  /** Requests that failed or errored (h2load's "failed" counts both). */
  failed: number;
  non2xx: number;
}

/** Parses h2load's summary. Exported for its unit of truth: the text h2load prints. */
export function parseH2load(text: string): H2loadResult {
  const finished = /^finished in ([\d.]+)(ms|s), ([\d.]+) req\/s/m.exec(text);
  const requests = /^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed/m.exec(
    text,
  );
  const codes = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(text);
  if (!finished || !requests) throw new Error(`unexpected h2load output:\n${text}`);
  const seconds = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
  return {
    requests: Number(requests[3]),
    seconds,
    rps: Number(finished[3]),
    failed: Number(requests[4]),
    non2xx: codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0,
  };
}

/**
 * Requests per HTTP/2 connection in one burst: under nginx's keepalive_requests (1000 by default,
 * which caps HTTP/2 connections too). Past it nginx sends GOAWAY, and h2load does not reconnect: a
 * timed run would end early, its in-flight streams counted as failures.
 */
export const H2_REQUESTS_PER_CONNECTION = 900;

/**
 * One h2load burst over HTTP/2 (ALPN h2): `connections` clients, `streams` concurrent streams each,
 * bounded by count (H2_REQUESTS_PER_CONNECTION each), one thread (the machine's cores are shared
 * with the front and the backend); killed after `timeout` seconds.
 */
export function runH2load(
  bin: string,
  url: string,
  options: { connections: number; streams: number; timeout: number },
): Promise<H2loadResult> {
  const requests = options.connections * H2_REQUESTS_PER_CONNECTION;
  const args = ['-t1', `-c${options.connections}`, `-m${options.streams}`, `-n${requests}`, url];
  return runTool(bin, args, options.timeout, parseH2load);
}
