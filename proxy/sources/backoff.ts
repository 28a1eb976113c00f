export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  initial: number;
  /** The cap, in ms: a daemon that is down for an hour is still asked every `max`. */
  max: number;
}

/** Exponential backoff: initial, 2×, 4×, ... capped at max. `failures` counts from 0. */
export function backoffDelay(failures: number, { initial, max }: BackoffOptions): number {
  return Math.min(max, initial * 2 ** Math.min(failures, 30));
}

/** Reconnection after a lost connection: one pending attempt at a time, each later than the last. */
export interface Reconnect {
  /** Runs `attempt` after the next backoff delay; returns that delay and the failure's number. */
  schedule(attempt: () => void): { retryIn: number; attempt: number };
  /** How many failures in a row so far (0 once connected). */
  readonly failures: number;
  /** Connected again: the next loss starts from the initial delay. */
  succeeded(): void;
  /** Drops a pending attempt. */
  cancel(): void;
}

export function createReconnect(
  options: BackoffOptions,
  timers: { setTimeout(callback: () => void, ms: number): unknown; clearTimeout(handle: unknown): void },
): Reconnect {
  let failures = 0;
  let timer: unknown = null;
  return {
    schedule(attempt) {
      if (timer !== null) timers.clearTimeout(timer);
      const retryIn = backoffDelay(failures++, options);
      timer = timers.setTimeout(() => {
        timer = null;
        attempt();
      }, retryIn);
      return { retryIn, attempt: failures };
    },
    get failures() {
      return failures;
    },
    succeeded() {
      failures = 0;
    },
    cancel() {
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
    },
  };
}
