import { parseArgs } from 'node:util';
import { PROXY_APP, WORKER_APP } from '../deploy/pm2/ecosystem.js';
import { count, type LoadResult, startLoad } from '../test/helpers/load.js';
import { createPm2Sandbox, type Pm2Sandbox, startStack } from '../test/helpers/pm2.js';
import { openFds, processTree, rssBytes } from './proc-stat.js';
import { startWebSocketLoad, type WebSocketDrop } from './soak-websockets.js';
import { fixed } from './stats.js';

/**
 * `npm run soak`: the pm2 stack as users run it (its own PM2_HOME in a temp dir), mixed GET / POST
 * /echo / WebSocket load through its proxy for `--minutes` (10 by default), while one worker is
 * restarted every 30 s (`pm2 restart <id>`, the next worker each time) and the proxy is reloaded
 * every 60 s (`pm2 reload gatehouse-proxy`). Prints the totals, every failure with its time and
 * reason, and the proxy's RSS and open fds once a minute. Exits 1 when an idempotent request
 * failed or the proxy's RSS or fds grew beyond the tolerance below; stops everything it started
 * at the end, on a failure and on Ctrl-C.
 *
 * The operations are the ones users run: `pm2 restart <id>` is pm2's command for one process (a
 * `pm2 reload` of a fork-mode app is a restart too) and what pm2 itself does to a worker past
 * max_memory_restart; `pm2 reload gatehouse-proxy` is the README's zero-downtime proxy reload.
 */

const WORKERS = 3;
const HTTP_CONNECTIONS = 8;
const WEBSOCKETS = 4;
const WEBSOCKET_INTERVAL = 250;
const RESTART_EVERY = 30_000;
const RELOAD_EVERY = 60_000;
/** Samples at 45 s, 1:45, 2:45…: each proxy process has served 45 s since its reload. */
const SAMPLE_OFFSET = 45_000;
/** Growth tolerated from the first sample to the last. */
const RSS_TOLERANCE = { ratio: 1.25, plusMb: 16 };
const FD_TOLERANCE = 16;

interface Sample {
  at: number;
  pid: number;
  rssMb: number;
  fds: number;
}

interface Operation {
  at: number;
  command: string;
  ms: number;
  code: number | null;
  error: string;
}

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' } } });
const minutes = Number(values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) {
  console.error(
    `soak: --minutes must be a number of minutes above 0 (at most a day), not "${values.minutes}"`,
  );
  process.exit(2);
}

let interrupted: (() => void) | null = null;
const interruption = new Promise<void>((resolve) => {
  interrupted = resolve;
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.log(`soak: ${signal}, stopping everything`);
    interrupted?.();
  });
}

/** Where the timeline starts: the start, then again once the stack is up and the load begins. */
let started = Date.now();
const clock = (at: number) => {
  const s = Math.round((at - started) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};
const log = (text: string) => console.log(`[${clock(Date.now())}] ${text}`);

/** Waits until `at` (ms since the start) or an interruption; false when interrupted. */
async function until(at: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const reached = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), Math.max(0, started + at - Date.now()));
  });
  const result = await Promise.race([reached, interruption.then(() => false)]);
  clearTimeout(timer);
  return result;
}

async function proxyPid(sb: Pm2Sandbox): Promise<number | null> {
  const online = (await sb.list()).filter((p) => p.name === PROXY_APP && p.pm2_env.status === 'online');
  return online.at(-1)?.pid ?? null;
}

async function sample(sb: Pm2Sandbox): Promise<Sample | null> {
  const pid = await proxyPid(sb);
  const fds = pid ? openFds(pid) : null;
  if (!pid || fds === null) return null;
  return { at: Date.now(), pid, rssMb: rssBytes(processTree(pid)) / 2 ** 20, fds };
}

async function operate(sb: Pm2Sandbox, args: string[]): Promise<Operation> {
  const at = Date.now();
  const { code, stderr } = await sb.pm2(args, 120_000);
  return { at, command: `pm2 ${args.join(' ')}`, ms: Date.now() - at, code, error: stderr.trim() };
}

function failureLine(r: LoadResult): string {
  return `  ${clock(r.endedAt)} ${r.method} ${r.error} (${r.received} received${r.requestId ? `, request id ${r.requestId}` : ''})`;
}

async function main(): Promise<number> {
  const duration = minutes * 60_000;
  log(
    `soak: ${minutes} min, ${WORKERS} workers under pm2, ${HTTP_CONNECTIONS} HTTP connections (GET / and POST /echo), ${WEBSOCKETS} WebSockets`,
  );
  const sb = await createPm2Sandbox({
    workers: WORKERS,
    config: { access_log: { path: 'off' }, log_level: 'warn' },
  });
  try {
    await startStack(sb, WORKERS);
    const workerIds = [...(await sb.list())].filter((p) => p.name === WORKER_APP).map((p) => p.pm_id);
    log(`stack up: proxy ${sb.proxyUrl}, workers pm_id ${workerIds.join(', ')} (PM2_HOME ${sb.home})`);

    started = Date.now();
    const load = startLoad({
      url: sb.proxyUrl,
      connections: HTTP_CONNECTIONS,
      duration,
      maxRequests: 20_000_000,
    });
    const sockets = startWebSocketLoad(
      `${sb.proxyUrl.replace('http', 'ws')}/ws`,
      WEBSOCKETS,
      WEBSOCKET_INTERVAL,
    );
    const samples: Sample[] = [];
    const operations: Operation[] = [];
    // Every event on one timeline: restarts every 30 s, reloads every 60 s, samples at 45 s past.
    const events: Array<{ at: number; kind: 'restart' | 'reload' | 'sample' }> = [];
    for (let at = RESTART_EVERY; at < duration; at += RESTART_EVERY) events.push({ at, kind: 'restart' });
    for (let at = RELOAD_EVERY; at < duration; at += RELOAD_EVERY) events.push({ at, kind: 'reload' });
    for (let at = SAMPLE_OFFSET; at < duration; at += 60_000) events.push({ at, kind: 'sample' });
    events.sort((a, b) => a.at - b.at || a.kind.localeCompare(b.kind));
    let restarts = 0;
    let completed = true;
    for (const event of events) {
      if (!(await until(event.at))) {
        completed = false;
        break;
      }
      if (event.kind === 'sample') {
        const s = await sample(sb);
        if (s) samples.push(s);
        log(
          s
            ? `proxy pid ${s.pid}: RSS ${fixed(s.rssMb, 1)} MB, ${s.fds} fds; ${count(load.ended)} HTTP requests so far`
            : 'proxy not found in pm2 list',
        );
        continue;
      }
      const args =
        event.kind === 'restart'
          ? ['restart', String(workerIds[restarts++ % workerIds.length])]
          : ['reload', PROXY_APP];
      const op = await operate(sb, args);
      operations.push(op);
      log(`${op.command}: exit ${op.code} in ${op.ms} ms${op.code === 0 ? '' : `: ${op.error}`}`);
    }
    if (completed) await until(duration);
    const report = await load.stop();
    const ws = await sockets.stop();

    const failedGets = report.failedResults.filter((r) => r.method === 'GET');
    const failedPosts = report.failedResults.filter((r) => r.method === 'POST');
    const seconds = (Date.now() - started) / 1000;
    console.log(`\nsoak totals after ${fixed(seconds, 0)} s${completed ? '' : ' (interrupted)'}:`);
    console.log(`  GET /        ${count(report.get.total)} requests, ${count(report.get.failed)} failed`);
    console.log(`  POST /echo   ${count(report.post.total)} requests, ${count(report.post.failed)} failed`);
    console.log(
      `  WebSocket    ${count(ws.opened)} connections, ${count(ws.echoed)} messages echoed, ${ws.drops.length} drops, ${ws.refused.length} handshakes refused`,
    );
    console.log(
      `  operations   ${operations.length} (${operations.filter((o) => o.code !== 0).length} failed)`,
    );
    console.log(`failed idempotent requests (GET): ${failedGets.length}`);
    for (const r of failedGets) console.log(failureLine(r));
    console.log(`failed POSTs: ${failedPosts.length}`);
    for (const r of failedPosts.slice(0, 50)) console.log(failureLine(r));
    if (failedPosts.length > 50) console.log(`  (${failedPosts.length - 50} more)`);
    const drops = (list: WebSocketDrop[]) => list.map((d) => `  ${clock(d.at)} ${d.reason}`).join('\n');
    console.log(`WebSocket drops: ${ws.drops.length}`);
    if (ws.drops.length > 0) console.log(drops(ws.drops));
    if (ws.refused.length > 0)
      console.log(`WebSocket handshakes refused: ${ws.refused.length}\n${drops(ws.refused)}`);
    for (const op of operations.filter((o) => o.code !== 0))
      console.log(`failed operation at ${clock(op.at)}: ${op.command} exit ${op.code}: ${op.error}`);
    if (failedGets.length > 0) console.log(`what the proxy logged about them:\n${sb.explain(failedGets)}`);

    console.log('proxy RSS and open fds, one sample a minute (45 s after each reload):');
    for (const s of samples)
      console.log(`  ${clock(s.at)} pid ${s.pid}  RSS ${fixed(s.rssMb, 1)} MB  fds ${s.fds}`);
    const problems: string[] = [];
    if (failedGets.length > 0) problems.push(`${failedGets.length} idempotent requests failed`);
    const first = samples[0];
    const last = samples.at(-1);
    if (first && last && samples.length > 1) {
      const rssLimit = first.rssMb * RSS_TOLERANCE.ratio + RSS_TOLERANCE.plusMb;
      if (last.rssMb > rssLimit)
        problems.push(
          `proxy RSS grew ${fixed(first.rssMb, 1)} → ${fixed(last.rssMb, 1)} MB (limit ${fixed(rssLimit, 1)})`,
        );
      if (last.fds > first.fds + FD_TOLERANCE)
        problems.push(`proxy fds grew ${first.fds} → ${last.fds} (limit ${first.fds + FD_TOLERANCE})`);
    }
    console.log(
      `tolerance: last sample within first × ${RSS_TOLERANCE.ratio} + ${RSS_TOLERANCE.plusMb} MB RSS and first + ${FD_TOLERANCE} fds`,
    );
    const verdict = completed ? 'PASS' : 'interrupted, no failure so far';
    console.log(problems.length === 0 ? `soak: ${verdict}` : `soak: FAIL — ${problems.join('; ')}`);
    if (problems.length > 0) return 1;
    return completed ? 0 : 130;
  } finally {
    await sb.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
