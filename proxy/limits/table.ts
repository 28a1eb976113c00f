import { type Admission, admit, type BucketLimit, freshBucket, isIdle, type LeakyBucket } from './bucket.js';

/**
 * Keys a table holds at most, per route and proxy process. nginx's `zone=…:10m` holds about
 * 160,000 client addresses; this many IPv4 keys take about 15 MB of heap here.
 */
export const DEFAULT_CAPACITY = 100_000;

/**
 * One route's buckets by key, bounded like nginx's shared zone: least recently seen first
 * (a Map keeps insertion order; a key seen again is moved to the end). Each new key first frees
 * up to two of the oldest buckets that leaked empty and sat idle a minute (nginx's expire), and a
 * full table forgets its oldest key, whatever it holds — so a flood of distinct addresses costs
 * at most `capacity` buckets, and the keys it pushed out start again with a fresh burst (nginx too).
 */
export class LimitTable {
  private readonly buckets = new Map<string, LeakyBucket>();

  constructor(
    readonly limit: BucketLimit,
    readonly capacity = DEFAULT_CAPACITY,
    private readonly clock: () => number = wholeMilliseconds,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  /** One request from `key`: let through now, later, or refused (bucket.ts). */
  take(key: string): Admission {
    const now = this.clock();
    const bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key);
      this.buckets.set(key, bucket);
      return admit(bucket, now, this.limit);
    }
    this.expire(now);
    this.buckets.set(key, freshBucket(now));
    return { pass: true, delay: 0, excess: 0 };
  }

  private expire(now: number): void {
    for (let freed = 0; freed < 2; freed++) {
      const oldest = this.buckets.entries().next();
      if (oldest.done || !isIdle(oldest.value[1], now, this.limit)) break;
      this.buckets.delete(oldest.value[0]);
    }
    if (this.buckets.size >= this.capacity) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
  }
}

/** nginx's clock: whole milliseconds, monotonic here (a wall-clock step must not refill buckets). */
function wholeMilliseconds(): number {
  return Math.floor(performance.now());
}
