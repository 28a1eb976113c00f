import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packageRoot } from '../config/index.js';
import { fixed } from './stats.js';

/** The parts of V8's .cpuprofile (what `node --cpu-prof` writes) this reads. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
  positionTicks?: Array<{ line: number; ticks: number }>;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface TimeEntry {
  name: string;
  ms: number;
  /** Share of all sampled time except (idle). */
  percent: number;
}

export interface ProfileSummary {
  busyMs: number;
  idleMs: number;
  /** Self time by function (name, file:line; our files mapped to the TypeScript source). */
  selfByFunction: TimeEntry[];
  /** Self time by owner: node core, each package, each folder of ours, GC, native. */
  selfByOwner: TimeEntry[];
  /** Total (self + callees) time of our own functions. */
  totalOfOurFunctions: TimeEntry[];
  /** Self time on lines of our TypeScript (V8's position ticks, mapped through the source maps). */
  ourLines: TimeEntry[];
}

const ROOT_URL = pathToFileURL(`${packageRoot}/`).href;
const maps = new Map<string, SourceMap | null>();

function sourceMapFor(url: string): SourceMap | null {
  if (!maps.has(url)) {
    let map: SourceMap | null = null;
    try {
      const file = `${fileURLToPath(url)}.map`;
      if (existsSync(file)) map = new SourceMap(JSON.parse(readFileSync(file, 'utf8')));
    } catch {}
    maps.set(url, map);
  }
  return maps.get(url) ?? null;
}

function isOurs(url: string): boolean {
  return url.startsWith(`${ROOT_URL}dist/`);
}

/** file:line for a 0-based line of compiled JS; our dist/*.js lines become their .ts source lines. */
function location(url: string, line0: number, column0 = 0): string {
  if (isOurs(url)) {
    const entry = sourceMapFor(url)?.findEntry(line0, column0) as
      | { originalSource?: string; originalLine?: number }
      | undefined;
    if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
      const source = entry.originalSource.startsWith('file:')
        ? fileURLToPath(entry.originalSource)
        : entry.originalSource;
      const relative = source.startsWith(packageRoot)
        ? source.slice(packageRoot.length + 1)
        : source.replace(/^(\.\.\/)+/, '');
      return `${relative}:${entry.originalLine + 1}`;
    }
  }
  const short = url.startsWith(ROOT_URL) ? url.slice(ROOT_URL.length) : url.replace(/^file:\/\//, '');
  return `${short || '(native)'}:${line0 + 1}`;
}

function owner(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : 'native / V8 builtins';
  if (url.startsWith('node:')) return 'node core';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  if (isOurs(url))
    return `gatehouse ${
      url
        .slice(ROOT_URL.length + 5)
        .split('/')
        .slice(0, -1)
        .join('/') || '.'
    }`;
  return url;
}

function top(map: Map<string, number>, busyMs: number, count: number): TimeEntry[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, ms]) => ({ name, ms, percent: (100 * ms) / busyMs }));
}

export function summarizeProfile(profile: CpuProfile, count = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // A sample lasts until the next one; deltas[i] is the gap before sample i.
  for (let i = 0; i < samples.length; i++) {
    const us = deltas[i + 1] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + us);
  }
  const key = (n: ProfileNode) =>
    `${n.callFrame.functionName || '(anonymous)'} ${location(n.callFrame.url, n.callFrame.lineNumber, n.callFrame.columnNumber)}`;
  let idleMs = 0;
  let busyMs = 0;
  const byFunction = new Map<string, number>();
  const byOwner = new Map<string, number>();
  const ourLines = new Map<string, number>();
  for (const node of profile.nodes) {
    const ms = (selfUs.get(node.id) ?? 0) / 1000;
    if (node.callFrame.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    busyMs += ms;
    if (ms === 0) continue;
    byFunction.set(key(node), (byFunction.get(key(node)) ?? 0) + ms);
    const who = owner(node.callFrame);
    byOwner.set(who, (byOwner.get(who) ?? 0) + ms);
    const ticks = node.positionTicks ?? [];
    const totalTicks = ticks.reduce((sum, t) => sum + t.ticks, 0);
    if (isOurs(node.callFrame.url) && totalTicks > 0) {
      for (const t of ticks) {
        const where = location(node.callFrame.url, t.line - 1);
        ourLines.set(where, (ourLines.get(where) ?? 0) + (ms * t.ticks) / totalTicks);
      }
    }
  }
  // Total time of our functions: self plus callees, each node counted once per distinct function on its path.
  const totals = new Map<string, number>();
  const walk = (id: number, onPath: ReadonlySet<string>): number => {
    const node = byId.get(id);
    if (!node) return 0;
    let ms = (selfUs.get(id) ?? 0) / 1000;
    if (node.callFrame.functionName === '(idle)') return 0;
    const k = isOurs(node.callFrame.url) ? key(node) : null;
    const path = k && !onPath.has(k) ? new Set([...onPath, k]) : onPath;
    for (const child of node.children ?? []) ms += walk(child, path);
    if (k && !onPath.has(k)) totals.set(k, (totals.get(k) ?? 0) + ms);
    return ms;
  };
  const root = profile.nodes[0];
  if (root) walk(root.id, new Set());
  return {
    busyMs,
    idleMs,
    selfByFunction: top(byFunction, busyMs, count),
    selfByOwner: top(byOwner, busyMs, count),
    totalOfOurFunctions: top(totals, busyMs, count),
    ourLines: top(ourLines, busyMs, count),
  };
}

/** Collapsed stacks (`a;b;c <µs>`), the input of flamegraph.pl and speedscope. */
export function foldedStacks(profile: CpuProfile): string {
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const weights = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++)
    weights.set(samples[i]!, (weights.get(samples[i]!) ?? 0) + (deltas[i + 1] ?? 0));
  const lines: string[] = [];
  for (const [id, us] of weights) {
    if (us <= 0) continue;
    const frames: string[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const node = byId.get(at);
      if (!node || node.callFrame.functionName === '(root)') continue;
      const { functionName, url, lineNumber } = node.callFrame;
      frames.push(
        `${functionName || '(anonymous)'} ${url ? location(url, lineNumber) : ''}`
          .trim()
          .replaceAll(';', ','),
      );
    }
    lines.push(`${frames.reverse().join(';')} ${Math.round(us)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatSummary(summary: ProfileSummary): string {
  const section = (title: string, entries: readonly TimeEntry[]) => [
    title,
    ...entries.map(
      (e) => `  ${fixed(e.percent, 1).padStart(5)} %  ${fixed(e.ms, 0).padStart(6)} ms  ${e.name}`,
    ),
  ];
  return [
    `busy ${fixed(summary.busyMs, 0)} ms, idle ${fixed(summary.idleMs, 0)} ms (percentages are of busy time)`,
    ...section('self time by owner:', summary.selfByOwner.slice(0, 12)),
    ...section('self time by function:', summary.selfByFunction),
    ...section('total time (self + callees) of our functions:', summary.totalOfOurFunctions.slice(0, 15)),
    ...section('self time on our source lines:', summary.ourLines.slice(0, 15)),
  ].join('\n');
}

// `node dist/bench/cpuprofile.js FILE.cpuprofile`: the same summary for any profile.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv[2]) {
  const profile = JSON.parse(readFileSync(process.argv[2], 'utf8')) as CpuProfile;
  console.log(formatSummary(summarizeProfile(profile)));
}
