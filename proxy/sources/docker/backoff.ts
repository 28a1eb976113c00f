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
