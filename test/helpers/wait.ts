import { setTimeout as sleep } from 'node:timers/promises';

/** "Not yet": what a probe returns while the thing it waits for has not happened. */
type NotYet = null | undefined | false;

/**
 * Polls `probe` every `interval` ms until it returns a value (anything but null, undefined or
 * false) and resolves with it. A probe that throws counts as "not yet" (a server still starting
 * refuses connections); after `timeout` ms it rejects, naming `what` and the last error.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | NotYet>,
  timeout = 20_000,
  interval = 100,
): Promise<T> {
  const deadline = Date.now() + timeout;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline)
      throw new Error(
        `timed out after ${timeout} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
      );
    await sleep(interval);
  }
}
