/**
 * Set by the pm2 ecosystem on the proxy: the name of the pm2 app whose instances are the workers.
 * With it, and no upstream servers of the config's own, the proxy's pool is pm2's live worker set.
 */
export const PM2_WORKERS_VAR = 'GATEHOUSE_PM2_WORKERS';

/**
 * What a worker says on pm2's bus. pm2 republishes a process's IPC message `{ type, data }` on
 * its bus under `type`; the proxy's pm2 pool source listens for these.
 */

/** Sent on SIGINT/SIGTERM, before the worker closes its listener: take me out of the pool. */
export const DRAINING_MESSAGE = 'gatehouse:draining';

/** Sends a message to pm2 when this process has an IPC channel to it; never throws. */
export function tellPm2(type: string, data: Record<string, unknown>): void {
  if (!process.send || !process.connected) return;
  // With a callback, a channel closing meanwhile is an error passed to it, not an 'error' event.
  process.send({ type, data }, undefined, {}, () => {});
}
