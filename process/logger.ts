import { hostname } from 'node:os';
import { type DestinationStream, type Logger, pino } from 'pino';
import { formatLogLine } from './log-line.js';

export type { Logger } from 'pino';

/**
 * JSON lines on stdout (or a given stream), one per event; pm2 and docker collect stdout. When
 * stdout is a terminal, a person reads it: the same events as short sentences (log-line.ts).
 */
export function createLogger(
  options: { level?: string; name: string; base?: Record<string, unknown> },
  destination?: DestinationStream,
): Logger {
  const opts = {
    name: options.name,
    level: options.level ?? 'info',
    // The host name tells containers apart (it is the container id in Docker), the pid processes.
    base: { pid: process.pid, hostname: hostname(), ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (destination) return pino(opts, destination);
  return process.stdout.isTTY ? pino(opts, terminal(process.stdout)) : pino(opts);
}

/** pino writes one whole JSON line per call: each becomes one readable line, or nothing. */
export function terminal(out: { write(text: string): unknown }): DestinationStream {
  return {
    write(line: string) {
      const text = formatLogLine(line);
      if (text !== null) out.write(`${text}\n`);
    },
  };
}
