import { formatLogLine } from '../../process/log-line.js';
import type { Pm2Output } from './session.js';

export interface LogStreamOptions {
  /** A person reads it: JSON lines become short sentences (process/log-line.ts). */
  tty: boolean;
  out: { write(text: string): unknown };
  err: { write(text: string): unknown };
  /** Lines kept per process, to explain a failure. */
  keep?: number;
}

export interface LogStream {
  /** One chunk of a process's output (several lines, or part of one). */
  push(output: Pm2Output): void;
  /** Writes what is left of unfinished lines. */
  flush(): void;
  /** The last lines a process wrote, oldest first. */
  lastLines(pmId: number): string[];
}

/**
 * The processes' output on this terminal: whole lines, each on the stream it came from; to a
 * terminal formatted for a person, elsewhere as written (JSON stays JSON for files and pipes).
 */
export function createLogStream({ tty, out, err, keep = 20 }: LogStreamOptions): LogStream {
  const partial = new Map<string, string>();
  const recent = new Map<number, string[]>();

  function emit(pmId: number, stream: 'out' | 'err', line: string): void {
    if (line.trim() === '') return;
    const lines = recent.get(pmId) ?? [];
    lines.push(line);
    if (lines.length > keep) lines.shift();
    recent.set(pmId, lines);
    const text = tty ? formatLogLine(line) : line;
    if (text !== null) (stream === 'err' ? err : out).write(`${text}\n`);
  }

  return {
    push({ pmId, stream, data }) {
      const key = `${pmId}:${stream}`;
      const lines = ((partial.get(key) ?? '') + data).split('\n');
      partial.set(key, lines.pop() ?? '');
      for (const line of lines) emit(pmId, stream, line);
    },
    flush() {
      for (const [key, rest] of partial) {
        const [pmId, stream] = key.split(':');
        emit(Number(pmId), stream === 'err' ? 'err' : 'out', rest);
      }
      partial.clear();
    },
    lastLines: (pmId) => [...(recent.get(pmId) ?? [])],
  };
}

/**
 * The line that says why a process died, from its last lines: a JSON record logged at error or
 * fatal ("cannot listen: listen EADDRINUSE ..."), else an `Error:` line of a stack trace, else
 * the last thing it wrote.
 */
export function failureReason(lines: readonly string[]): string {
  for (const line of [...lines].reverse()) {
    const record = parse(line);
    if (record && typeof record.level === 'number' && record.level >= 50) {
      const err = record.err as { message?: unknown } | undefined;
      const message = typeof err?.message === 'string' ? `: ${err.message}` : '';
      return `${String(record.msg ?? 'error')}${message}`;
    }
  }
  const error = [...lines].reverse().find((line) => /^\s*\w*Error\b.*:/.test(line));
  const last = error ?? [...lines].reverse().find((line) => line.trim() !== '');
  return last ? last.trim() : 'it wrote nothing';
}

function parse(line: string): Record<string, unknown> | null {
  if (!line.startsWith('{')) return null;
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
