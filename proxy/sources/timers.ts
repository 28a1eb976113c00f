/** Timer functions, injectable so tests drive debounce, backoff and re-lists without waiting. */
export interface SourceTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const defaultTimers: SourceTimers = {
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms);
    // A source must never be what keeps a process alive.
    timer.unref();
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
