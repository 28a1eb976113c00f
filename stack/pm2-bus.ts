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

/**
 * Sends a message to pm2 when this process has an IPC channel to it; never throws. True when it
 * was sent (under pm2, or any parent with an IPC channel).
 */
export function tellPm2(type: string, data: Record<string, unknown>): boolean {
  if (!process.send || !process.connected) return false;
  // With a callback, a channel closing meanwhile is an error passed to it, not an 'error' event.
  process.send({ type, data }, undefined, {}, () => {});
  return true;
}

/**
 * How long a worker keeps serving as before after telling pm2 it drains, before it closes its
 * listener: the time the message takes through pm2's daemon and bus to every proxy (milliseconds
 * when the machine is idle, much more on a loaded one). A proxy that still counts the worker in
 * its pool opens new connections to it; one that reaches the listen backlog just as the listener
 * closes is reset with the request written into it, and a POST lost that way cannot be retried
 * (seen under load in `pm2 scale` down). Meanwhile responses do not say Connection: close, so the
 * proxies go on reusing the connections they have rather than open new ones.
 */
export const DRAIN_NOTICE_MS = 1000;
