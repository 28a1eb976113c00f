import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { installedNginxVersion } from '../nginx/nginx-version.js';
import { renderNginx } from '../nginx/render.js';
import { freePort } from '../test/helpers/net.js';
import { startNginx } from '../test/helpers/nginx.js';
import { missing } from '../test/helpers/system-deps.js';
import { startBackend } from './backends.js';
import { writeBenchConfig } from './bench-config.js';
import { GATEHOUSE_BIN } from './fronts.js';
import { runLoad } from './load/index.js';
import type { BenchOptions } from './options.js';
import { startProcess, track } from './processes.js';
import type { PhaseContext } from './rounds.js';
import { fixed, median } from './stats.js';

// `npm run bench -- --static` (and the full run): a 16 KiB file from a static route, keep-alive,
// 50 connections, our proxy (one process) against nginx (one worker), both from the same config
// (rendered for nginx), interleaved by round. The worker behind "/" is never asked.

type StaticFrontId = 'gatehouse' | 'nginx';
const FILE_BYTES = 16 * 1024;
const PATH = '/static/bench-16k.bin';

export interface StaticSample {
  round: number;
  front: StaticFrontId;
  rps: number;
  errors: number;
}

export interface StaticBenchResult {
  label: string;
  tool: string;
  samples: StaticSample[];
  /** Median req/s per front; null when the front did not run. */
  rps: Record<StaticFrontId, number | null>;
  /** gatehouse / nginx (aim ≥ 0.5). */
  ratio: number | null;
  skipped: Partial<Record<StaticFrontId, string>>;
}

interface RunningStaticFront {
  id: StaticFrontId;
  url: string;
  stop(): Promise<void>;
}

/** The folder both fronts serve: <dir>/static-site/static/bench-16k.bin, readable by nginx's workers. */
function writeSite(dir: string): string {
  const root = join(dir, 'static-site');
  mkdirSync(join(root, 'static'), { recursive: true, mode: 0o755 });
  chmodSync(root, 0o755);
  chmodSync(join(root, 'static'), 0o755);
  writeFileSync(join(root, 'static', 'bench-16k.bin'), randomBytes(FILE_BYTES), { mode: 0o644 });
  return root;
}

export async function runStaticBench(options: BenchOptions, ctx: PhaseContext): Promise<StaticBenchResult> {
  const root = writeSite(ctx.dir);
  const backend = await startBackend('hello', ctx.dir);
  const routes = [{ path: '/' }, { path: '/static/', static: { root, expires: '1h' } }];
  const config = async (name: string) =>
    writeBenchConfig({
      dir: ctx.dir,
      name,
      port: await freePort(),
      statusPort: await freePort(),
      servers: [`${backend.upstream.host}:${backend.upstream.port}`],
      extra: { routes },
    });
  const fronts: RunningStaticFront[] = [];
  const skipped: Partial<Record<StaticFrontId, string>> = {};
  const samples: StaticSample[] = [];
  const tool = ctx.tools.wrk ? 'wrk' : 'autocannon';
  try {
    const ours = await config('gatehouse-static');
    const child = await startProcess({
      name: 'gatehouse-static',
      command: process.execPath,
      args: [GATEHOUSE_BIN, 'proxy', '--config', ours.file],
      logDir: ctx.dir,
      port: ours.config.listen.port,
    });
    fronts.push({
      id: 'gatehouse',
      url: `http://127.0.0.1:${ours.config.listen.port}`,
      stop: () => child.stop(),
    });
    const why = missing('nginx');
    if (why) skipped.nginx = why;
    else {
      const theirs = await config('nginx-static');
      const snippet = renderNginx(theirs.config, { target: 'host', nginxVersion: installedNginxVersion() });
      const running = await startNginx({ snippet, port: theirs.config.listen.port });
      fronts.push({
        id: 'nginx',
        url: `http://127.0.0.1:${theirs.config.listen.port}`,
        stop: track(() => running.stop()),
      });
    }
    const burst = (front: RunningStaticFront, duration: number) =>
      runLoad(
        tool,
        { url: `${front.url}${PATH}`, connections: 50, method: 'GET', bodyBytes: 0, duration },
        ctx.tools,
      );
    for (const front of fronts) {
      ctx.log(`warming up ${front.id} (static file)`);
      await burst(front, 1);
    }
    for (let round = 1; round <= options.rounds; round++) {
      for (const front of fronts) {
        const result = await burst(front, options.duration);
        const errors = result.non2xx + result.socketErrors;
        ctx.log(`round ${round} static-16k ${front.id}: ${fixed(result.rps, 0)} req/s, ${errors} errors`);
        samples.push({ round, front: front.id, rps: result.rps, errors });
      }
    }
  } finally {
    for (const front of fronts) await front.stop();
    await backend.process.stop();
  }
  const of = (front: StaticFrontId) => {
    const values = samples.filter((s) => s.front === front).map((s) => s.rps);
    return values.length > 0 ? median(values) : null;
  };
  const rps = { gatehouse: of('gatehouse'), nginx: of('nginx') };
  return {
    label: 'static file 16 KiB, keep-alive, 50 connections, req/s',
    tool,
    samples,
    rps,
    ratio: rps.gatehouse !== null && rps.nginx ? rps.gatehouse / rps.nginx : null,
    skipped,
  };
}

/** One Markdown row, as the TLS table prints (it goes into the closing note as is). */
export function formatStaticTable(result: StaticBenchResult): string {
  const cell = (value: number | null, digits: number) => (value === null ? '—' : fixed(value, digits));
  const errors = result.samples.reduce((sum, s) => sum + s.errors, 0);
  const lines = [
    '| load (tool) | gatehouse | nginx | ratio (aim ≥ 0.5) | errors |',
    '|---|---:|---:|---:|---:|',
    `| ${result.label} (${result.tool}) | ${cell(result.rps.gatehouse, 0)} | ${cell(result.rps.nginx, 0)} | ${cell(result.ratio, 2)} | ${errors} |`,
  ];
  for (const [id, why] of Object.entries(result.skipped)) lines.push('', `${id}: not measured — ${why}`);
  return lines.join('\n');
}
