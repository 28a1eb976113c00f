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
    base: { pid: process.pid, ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(opts, destination) : pino(opts);
}
