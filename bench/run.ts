import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../config/index.js';
import { which } from '../test/helpers/system-deps.js';
import { runBufferMemory } from './buffer-memory.js';
import { runCgiComparison } from './cgi.js';
import type { FrontId } from './fronts.js';
import { parseOptions, USAGE } from './options.js';
import { stopAll } from './processes.js';
import { runProfile } from './profile.js';
import { formatTable, formatTargets, summaryLine } from './report.js';
import type { PhaseContext } from './rounds.js';
import { runSlowClients } from './slow-clients.js';
import { formatBufferMemory, formatSlowClients } from './slow-clients-report.js';
import { runSoak } from './soak.js';
import { formatStaticTable, runStaticBench } from './static-bench.js';
import { runTableBench } from './table-bench.js';
import { formatTlsTable, runTlsBench } from './tls-bench.js';
import { runTransportStudy } from './transports-study.js';

/** `npm run bench`: see bench/README.md. Everything it starts, it stops, pass or fail. */
let scratch: string | null = null;

async function main(): Promise<number> {
  // wrk is optional (autocannon always runs); `npm run setup` installs it.
  const wrk = which('wrk');
  const options = parseOptions(process.argv.slice(2), wrk !== null);
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const startedAt = new Date();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  scratch = dir;
  // nginx's workers run as nobody and must be able to enter the dir.
  chmodSync(dir, 0o755);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const ctx: PhaseContext = { dir, tools: { wrk, dir }, log, skipped: new Map<FrontId, string>() };
  const results: Record<string, unknown> = {
    startedAt: startedAt.toISOString(),
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      nginx: nginxVersion(),
      wrk: wrk ?? null,
    },
    options: {
      ...options,
      only: options.only ? [...options.only] : null,
      loads: options.loads?.map((l) => l.id) ?? null,
    },
  };
  let code = 0;
  try {
    const studies =
      options.cgi ||
      options.soak ||
      options.transports ||
      options.profile ||
      options.slowClients ||
      options.tls ||
      options.static;
    if (options.transports) results.transports = await runTransportStudy(options, ctx);
    if (options.profile) results.profile = await runProfile(options, ctx);
    if (options.soak) results.soak = await runSoak(options, ctx);
    if (options.tls) {
      const tls = await runTlsBench(options, ctx);
      console.log(formatTlsTable(tls));
      results.tls = tls;
    }
    if (options.slowClients) {
      const slow = await runSlowClients(ctx);
      console.log(formatSlowClients(slow));
      const memory = await runBufferMemory(ctx);
      console.log('');
      console.log(formatBufferMemory(memory));
      for (const [id, why] of ctx.skipped) console.log(`skipped ${id}: ${why}`);
      results.slowClients = { fronts: slow, memory };
    }
    if (options.static || (!studies && !options.quick)) {
      const files = await runStaticBench(options, ctx);
      console.log(formatStaticTable(files));
      results.static = files;
    }
    if (options.cgi || (!studies && !options.quick)) results.cgi = await runCgiComparison(options, ctx);
    if (!studies) {
      const table = await runTableBench(options, ctx);
      Object.assign(results, table);
      console.log(formatTable(table.rows));
      for (const [id, why] of ctx.skipped) console.log(`skipped ${id}: ${why}`);
      console.log('');
      console.log(formatTargets(table.headline));
      const file = writeResults(startedAt, { ...results, skipped: Object.fromEntries(ctx.skipped) });
      console.log(`full results: ${file}`);
      console.log(summaryLine(table.headline));
    } else {
      const file = writeResults(startedAt, { ...results, skipped: Object.fromEntries(ctx.skipped) });
      console.log(`full results: ${file}`);
    }
  } catch (err) {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    code = 1;
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  return code;
}

function nginxVersion(): string | null {
  const result = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  return result.status === 0 ? result.stderr.trim() : null;
}

function writeResults(startedAt: Date, results: Record<string, unknown>): string {
  const dir = join(packageRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ ...results, finishedAt: new Date().toISOString() }, null, 2)}\n`);
  return file;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping everything the bench started\n`);
    stopAll().finally(() => {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

process.exitCode = await main();
