import { join } from 'node:path';
import { packageRoot } from '../config/index.js';
import { freePort } from '../test/helpers/net.js';
import { startBackend } from './backends.js';
import { writeBenchConfig } from './bench-config.js';
import { GATEHOUSE_BIN } from './fronts.js';
import { type LoadResult, runLoad } from './load/index.js';
import type { BenchOptions } from './options.js';
import { type Managed, startProcess } from './processes.js';
import type { PhaseContext } from './rounds.js';
import { fixed, median } from './stats.js';

const CONNECTIONS = 8;
/** CGI-style requests in all, over the rounds: bounded, a fresh node takes tens of ms each. */
const CGI_REQUESTS = 200;
const ROUNDS = 2;

export interface CgiComparison {
  connections: number;
  rounds: Array<{ cgi: LoadResult; pool: LoadResult }>;
  cgiRps: number;
  poolRps: number;
  cgiP50Ms: number;
  poolP50Ms: number;
  /** Median over rounds of pool req/s ÷ CGI req/s within the round. */
  ratio: number;
}

/**
 * Why the pool exists, in one number: the same tiny app served CGI-style (a CGI server starting
 * `node app-once.js` per request) and by the stack (our proxy in front of two pre-started
 * workers), same load, interleaved rounds.
 */
export async function runCgiComparison(options: BenchOptions, ctx: PhaseContext): Promise<CgiComparison> {
  ctx.log('— process model: CGI-style vs pre-started pool —');
  const app = join(packageRoot, 'dist', 'bench', 'cgi', 'tiny-app.js');
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const workers = [await startBackend('site', ctx.dir, app), await startBackend('site', ctx.dir, app)];
    started.push(...workers.map((w) => w.process));
    const proxyPort = await freePort();
    const { file } = writeBenchConfig({
      dir: ctx.dir,
      name: 'cgi-pool',
      port: proxyPort,
      statusPort: await freePort(),
      servers: workers.map((w) => `${w.upstream.host}:${w.upstream.port}`),
    });
    const start = (name: string, args: string[], port: number): Promise<Managed> =>
      startProcess({ name, command: process.execPath, args, logDir: ctx.dir, port });
    started.push(await start('cgi-pool-proxy', [GATEHOUSE_BIN, 'proxy', '--config', file], proxyPort));
    const cgiPort = await freePort();
    started.push(
      await start(
        'cgi-server',
        [join(packageRoot, 'dist', 'bench', 'cgi', 'cgi-server.js'), String(cgiPort)],
        cgiPort,
      ),
    );

    const tools = ctx.tools;
    const base = { connections: CONNECTIONS, method: 'GET' as const, bodyBytes: 0 };
    // Warm the pool's JIT and connections, and the page cache for node itself on the CGI side.
    await runLoad('autocannon', { ...base, url: `http://127.0.0.1:${proxyPort}/`, duration: 1 }, tools);
    await runLoad(
      'autocannon',
      { ...base, url: `http://127.0.0.1:${cgiPort}/`, duration: 0, amount: 8 },
      tools,
    );
    const rounds: CgiComparison['rounds'] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const cgi = await runLoad(
        'autocannon',
        { ...base, url: `http://127.0.0.1:${cgiPort}/`, duration: 0, amount: CGI_REQUESTS / ROUNDS },
        tools,
      );
      const pool = await runLoad(
        'autocannon',
        { ...base, url: `http://127.0.0.1:${proxyPort}/`, duration: Math.min(options.duration, 3) },
        tools,
      );
      rounds.push({ cgi, pool });
      ctx.log(`round ${round}/${ROUNDS} CGI ${cgi.rps.toFixed(1)} req/s, pool ${pool.rps.toFixed(0)} req/s`);
    }
    const result: CgiComparison = {
      connections: CONNECTIONS,
      rounds,
      cgiRps: median(rounds.map((r) => r.cgi.rps)),
      poolRps: median(rounds.map((r) => r.pool.rps)),
      cgiP50Ms: median(rounds.map((r) => r.cgi.p50Ms)),
      poolP50Ms: median(rounds.map((r) => r.pool.p50Ms)),
      ratio: median(rounds.map((r) => r.pool.rps / r.cgi.rps)),
    };
    const errors = rounds.reduce(
      (n, r) => n + r.cgi.non2xx + r.cgi.socketErrors + r.pool.non2xx + r.pool.socketErrors,
      0,
    );
    console.log(
      `process model (${CONNECTIONS} connections, autocannon): CGI-style ${fixed(result.cgiRps, 1)} req/s ` +
        `(p50 ${fixed(result.cgiP50Ms, 0)} ms) vs pre-started pool ${fixed(result.poolRps, 0)} req/s ` +
        `(p50 ${fixed(result.poolP50Ms, 1)} ms): pool/CGI = ${fixed(result.ratio, 0)}×` +
        (errors > 0 ? ` (${errors} errors)` : ''),
    );
    return result;
  } finally {
    for (const child of started.reverse()) await child.stop();
  }
}
