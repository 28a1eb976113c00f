import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports utime/stime in USER_HZ ticks, which is 100 on every architecture Node runs on. */
const TICK_US = 10_000;

function readStat(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after its closing one.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The process and every descendant (nginx's workers, node:cluster's children), found by parent pid. */
export function processTree(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const fields = readStat(pid);
    // After the name: state, ppid, ...
    const ppid = fields ? Number(fields[1]) : Number.NaN;
    if (!Number.isInteger(ppid)) continue;
    const list = parents.get(ppid) ?? [];
    list.push(pid);
    parents.set(ppid, list);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i]!) ?? []));
  return tree;
}

/** User + system CPU time of these processes so far, in µs (processes that are gone count 0). */
export function cpuMicros(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = readStat(pid);
    // utime and stime are fields 14 and 15 of /proc/<pid>/stat; 11 and 12 after the name.
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * TICK_US;
}

/** Resident set size (VmRSS) of these processes together, in bytes. */
export function rssBytes(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) total += Number(match[1]) * 1024;
    } catch {}
  }
  return total;
}

/** Open file descriptors of one process (its /proc/<pid>/fd entries); null when it is gone. */
export function openFds(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}
