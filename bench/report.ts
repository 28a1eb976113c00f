import type { FrontId } from './fronts.js';
import type { LoadTool } from './load/index.js';
import { HEADLINE } from './loads.js';
import type { Sample } from './rounds.js';
import { fixed, median } from './stats.js';

/** Medians over rounds of one front under one load and tool. */
export interface Row {
  load: string;
  tool: LoadTool;
  front: FrontId;
  label: string;
  rounds: number;
  rps: number;
  /** Median over rounds of (this front's req/s ÷ direct's req/s in the same round). */
  vsDirect: number;
  vsNginx: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx responses plus socket errors, summed over all rounds. */
  errors: number;
  cpuUsPerRequest: number;
  rssMb: number;
}

type Pick = (s: Sample) => number;

/** Median over rounds of pick(front) ÷ pick(reference), each ratio taken within one round. */
export function ratio(
  samples: readonly Sample[],
  load: string,
  tool: LoadTool,
  front: FrontId,
  reference: FrontId,
  pick: Pick = (s) => s.rps,
): number {
  const ratios: number[] = [];
  for (const a of samples) {
    if (a.load !== load || a.tool !== tool || a.front !== front) continue;
    const b = samples.find(
      (s) => s.load === load && s.tool === tool && s.front === reference && s.round === a.round,
    );
    if (b && pick(b) > 0) ratios.push(pick(a) / pick(b));
  }
  return median(ratios);
}

export function aggregate(samples: readonly Sample[]): Row[] {
  const rows: Row[] = [];
  const keys = new Set(samples.map((s) => `${s.load}|${s.tool}|${s.front}`));
  for (const key of keys) {
    const [load, tool, front] = key.split('|') as [string, LoadTool, FrontId];
    const mine = samples.filter((s) => s.load === load && s.tool === tool && s.front === front);
    rows.push({
      load,
      tool,
      front,
      label: mine[0]!.label,
      rounds: mine.length,
      rps: median(mine.map((s) => s.rps)),
      vsDirect: ratio(samples, load, tool, front, 'direct'),
      vsNginx: ratio(samples, load, tool, front, 'nginx'),
      p50Ms: median(mine.map((s) => s.p50Ms)),
      p99Ms: median(mine.map((s) => s.p99Ms)),
      errors: mine.reduce((sum, s) => sum + s.non2xx + s.socketErrors, 0),
      cpuUsPerRequest: median(mine.map((s) => s.cpuUsPerRequest ?? Number.NaN)),
      rssMb: median(mine.map((s) => (s.rssBytes === null ? Number.NaN : s.rssBytes / 2 ** 20))),
    });
  }
  return rows;
}

/** A markdown table, columns padded so it also reads well in a terminal. */
export function formatTable(rows: readonly Row[]): string {
  const head = [
    'load',
    'tool',
    'front',
    'req/s',
    '×direct',
    '×nginx',
    'p50 ms',
    'p99 ms',
    'errors',
    'CPU µs/req',
    'RSS MB',
  ];
  const body = rows.map((r) => [
    r.load,
    r.tool,
    r.label,
    fixed(r.rps, 0),
    fixed(r.vsDirect, 2),
    fixed(r.vsNginx, 2),
    fixed(r.p50Ms, 2),
    fixed(r.p99Ms, 2),
    String(r.errors),
    fixed(r.cpuUsPerRequest, 0),
    fixed(r.rssMb, 0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const numeric = (i: number) => i >= 3;
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (numeric(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric(i) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(head), rule, ...body.map(line)].join('\n');
}

/** The tool the summary is taken with: wrk when it ran (as in PERFORMANCE.md), else autocannon. */
export function summaryTool(samples: readonly Sample[]): LoadTool {
  return samples.some((s) => s.tool === 'wrk' && s.load === HEADLINE) ? 'wrk' : 'autocannon';
}

export interface Headline {
  tool: LoadTool;
  proxyVsNginx: number;
  proxyVsDirect: number;
  proxyVsHttpProxy: number;
  twoVsOne: number;
  logOffVsOn: number;
  cpuUsPerRequest: number;
  nginxCpuUsPerRequest: number;
  p99VsNginx: number;
}

export function headline(samples: readonly Sample[]): Headline {
  const tool = summaryTool(samples);
  const r = (front: FrontId, reference: FrontId, pick?: Pick) =>
    ratio(samples, HEADLINE, tool, front, reference, pick);
  const cpu = (front: FrontId) =>
    median(
      samples
        .filter((s) => s.load === HEADLINE && s.tool === tool && s.front === front)
        .map((s) => s.cpuUsPerRequest ?? Number.NaN),
    );
  return {
    tool,
    proxyVsNginx: r('gatehouse', 'nginx'),
    proxyVsDirect: r('gatehouse', 'direct'),
    proxyVsHttpProxy: r('gatehouse', 'http-proxy'),
    twoVsOne: r('gatehouse-x2', 'gatehouse'),
    logOffVsOn: r('gatehouse-log-off', 'gatehouse'),
    cpuUsPerRequest: cpu('gatehouse'),
    nginxCpuUsPerRequest: cpu('nginx'),
    p99VsNginx: r('gatehouse', 'nginx', (s) => s.p99Ms),
  };
}

const n = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : 'n/a');

/** The issue's targets against what this run measured (direction, not a pass/fail gate). */
export function formatTargets(h: Headline): string {
  const check = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? 'met' : 'not met');
  const has = (v: number) => Number.isFinite(v);
  const lines = [
    `targets (${HEADLINE}, ${h.tool}, medians of within-round ratios):`,
    `  gatehouse ≥ 0.5× nginx req/s ............ ${n(h.proxyVsNginx)}×  ${check(has(h.proxyVsNginx) ? h.proxyVsNginx >= 0.5 : null)}`,
    `  gatehouse ≥ 3× http-proxy (README) ...... ${n(h.proxyVsHttpProxy)}×  ${check(has(h.proxyVsHttpProxy) ? h.proxyVsHttpProxy >= 3 : null)}`,
    `  2 processes ≥ 1.2× 1 process ............ ${n(h.twoVsOne)}×  ${check(has(h.twoVsOne) ? h.twoVsOne >= 1.2 : null)}`,
    `  CPU ≤ 120 µs/request .................... ${fixed(h.cpuUsPerRequest, 0)} µs (nginx ${fixed(h.nginxCpuUsPerRequest, 0)} µs)  ${check(has(h.cpuUsPerRequest) ? h.cpuUsPerRequest <= 120 : null)}`,
    `  p99 ≤ 2× nginx's ........................ ${n(h.p99VsNginx)}×  ${check(has(h.p99VsNginx) ? h.p99VsNginx <= 2 : null)}`,
    `  access log off vs on: ${n(h.logOffVsOn)}× req/s`,
  ];
  return lines.join('\n');
}

/** The bench's last line, exactly this shape. */
export function summaryLine(h: Headline): string {
  return `summary: proxy/nginx=${n(h.proxyVsNginx)} proxy/direct=${n(h.proxyVsDirect)} proxy/http-proxy=${n(h.proxyVsHttpProxy)}`;
}
