import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../config/index.js';
import { freePort } from '../test/helpers/net.js';
import { startBackend } from './backends.js';
import { writeBenchConfig } from './bench-config.js';
import {
  type CpuProfile,
  foldedStacks,
  formatSummary,
  type ProfileSummary,
  summarizeProfile,
} from './cpuprofile.js';
import { GATEHOUSE_BIN } from './fronts.js';
import { type LoadResult, runLoad } from './load/index.js';
import { findLoad, HEADLINE } from './loads.js';
import type { BenchOptions } from './options.js';
import { startProcess } from './processes.js';
import type { PhaseContext } from './rounds.js';

const SECONDS = 10;

export interface ProfileResult {
  load: string;
  result: LoadResult;
  cpuprofile: string;
  folded: string;
  summary: ProfileSummary;
}

/**
 * Our proxy (whole contract on, access log to a file) under `node --cpu-prof`, 50 connections of
 * GET 12 B (or the first --loads) for 10 s against the minimal backend. The profile is written when the proxy exits
 * (SIGTERM: it drains and exits 0); it is summarised here and kept in bench/results/ for a flame
 * graph (open the .cpuprofile in Chrome DevTools or speedscope; the .folded file feeds flamegraph.pl).
 */
export async function runProfile(options: BenchOptions, ctx: PhaseContext): Promise<ProfileResult> {
  ctx.log('— profile: gatehouse proxy under --cpu-prof —');
  const backend = await startBackend('hello', ctx.dir);
  const profDir = join(ctx.dir, 'cpu-profile');
  mkdirSync(profDir);
  try {
    const port = await freePort();
    const { file } = writeBenchConfig({
      dir: ctx.dir,
      name: 'profiled',
      port,
      statusPort: await freePort(),
      servers: [`${backend.upstream.host}:${backend.upstream.port}`],
    });
    const proxy = await startProcess({
      name: 'profiled-proxy',
      command: process.execPath,
      args: [
        '--cpu-prof',
        `--cpu-prof-dir=${profDir}`,
        '--cpu-prof-interval=200',
        GATEHOUSE_BIN,
        'proxy',
        '--config',
        file,
      ],
      logDir: ctx.dir,
      port,
    });
    const tool = options.wrkInstalled ? 'wrk' : 'autocannon';
    // --loads picks what to profile under (its first load on the minimal backend); GET 12 B by default.
    const load = options.loads?.find((l) => l.backend === 'hello') ?? findLoad(HEADLINE);
    const base = {
      url: `http://127.0.0.1:${port}${load.path}`,
      connections: load.connections,
      method: load.method,
      bodyBytes: load.bodyBytes,
    };
    await runLoad(tool, { ...base, duration: 2 }, ctx.tools);
    const result = await runLoad(tool, { ...base, duration: SECONDS }, ctx.tools);
    ctx.log(`profiled run, ${load.id}: ${Math.round(result.rps)} req/s (${tool}; sampling slows the proxy)`);
    await proxy.stop();
    const written = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    if (written.length === 0) throw new Error(`the proxy wrote no .cpuprofile:\n${proxy.tail()}`);
    const profile = JSON.parse(readFileSync(join(profDir, written[0]!), 'utf8')) as CpuProfile;
    const summary = summarizeProfile(profile);
    const results = join(packageRoot, 'bench', 'results');
    mkdirSync(results, { recursive: true });
    const stem = join(results, `${new Date().toISOString().replace(/[:.]/g, '-')}-proxy`);
    copyFileSync(join(profDir, written[0]!), `${stem}.cpuprofile`);
    writeFileSync(`${stem}.folded`, foldedStacks(profile));
    console.log(formatSummary(summary));
    console.log(
      `profile: ${stem}.cpuprofile (flame graph: Chrome DevTools / speedscope; ${stem}.folded for flamegraph.pl)`,
    );
    return { load: load.id, result, cpuprofile: `${stem}.cpuprofile`, folded: `${stem}.folded`, summary };
  } finally {
    await backend.process.stop();
  }
}
