import { hostname } from 'node:os';
import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** JSON lines on stdout (or a given stream), one per event; pm2 and docker collect stdout. */
export function createLogger(
  options: { level?: string; name: string; base?: Record<string, unknown> },
  destination?: NodeJS.WritableStream,
): Logger {
  const opts = {
    name: options.name,
    level: options.level ?? 'info',
    // The host name tells containers apart (it is the container id in Docker), the pid processes.
    base: { pid: process.pid, hostname: hostname(), ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(opts, destination) : pino(opts);
}
