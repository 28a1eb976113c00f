import type { Logger } from './logger.js';

/**
 * The stop path every long-running gatehouse process shares: on SIGTERM, SIGINT, or pm2's IPC
 * 'shutdown' message (sent where it cannot signal), drain once and exit 0; exit 1 if the drain
 * itself fails.
 */
export function exitAfterDrainOnSignals(logger: Logger, drain: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    drain().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('message', (msg) => {
    if (msg === 'shutdown') stop('shutdown');
  });
}
