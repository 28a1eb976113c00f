import { type Admission, admit, type BucketLimit, freshBucket, isIdle, type LeakyBucket } from './bucket.js';

/**
 * Keys a table holds at most, per route and proxy process. nginx's `zone=…:10m` holds about
 * 160,000 client addresses; this many IPv4 keys take about 20 MB of heap here (measured).
 */
export const DEFAULT_CAPACITY = 100_000;

/** A key's bucket, linked in the order keys were last seen (a Map alone would do, but see below). */
interface Entry extends LeakyBucket {
  readonly key: string;
  /** The entry seen just before this one (older), or null for the oldest. */
  older: Entry | null;
  newer: Entry | null;
}

/**
 * One route's buckets by key, bounded like nginx's shared zone and kept in the order last seen
 * (nginx's queue). Each new key first frees up to two of the oldest buckets that leaked empty and
 * sat idle a minute (nginx's expire), and a full table forgets its oldest key, whatever it holds —
 * so a flood of distinct addresses costs at most `capacity` buckets, and the keys it pushed out
 * start again with a fresh burst (nginx too). The order is a linked list beside the Map, not the
 * Map's own insertion order: finding the oldest of a Map whose front was deleted over and over
 * walks the deleted slots, ~100 µs a request once full (measured), which a flood would exploit.
 */
export class LimitTable {
  private readonly entries = new Map<string, Entry>();
  private oldest: Entry | null = null;
  private newest: Entry | null = null;

  constructor(
    readonly limit: BucketLimit,
    readonly capacity = DEFAULT_CAPACITY,
    private readonly clock: () => number = wholeMilliseconds,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** One request from `key`: let through now, later, or refused (bucket.ts). */
  take(key: string): Admission {
    const now = this.clock();
    const entry = this.entries.get(key);
    if (entry) {
      this.unlink(entry);
      this.append(entry);
      return admit(entry, now, this.limit);
    }
    this.expire(now);
    const fresh: Entry = { key, ...freshBucket(now), older: null, newer: null };
    this.entries.set(key, fresh);
    this.append(fresh);
    return { pass: true, delay: 0, excess: 0 };
  }

  private expire(now: number): void {
    for (let freed = 0; freed < 2 && this.oldest && isIdle(this.oldest, now, this.limit); freed++)
      this.remove(this.oldest);
    if (this.entries.size >= this.capacity && this.oldest) this.remove(this.oldest);
  }

  private remove(entry: Entry): void {
    this.unlink(entry);
    this.entries.delete(entry.key);
  }

  private unlink(entry: Entry): void {
    if (entry.older) entry.older.newer = entry.newer;
    else this.oldest = entry.newer;
    if (entry.newer) entry.newer.older = entry.older;
    else this.newest = entry.older;
    entry.older = null;
    entry.newer = null;
  }

  private append(entry: Entry): void {
    entry.older = this.newest;
    if (this.newest) this.newest.newer = entry;
    else this.oldest = entry;
    this.newest = entry;
  }
}

/** nginx's clock: whole milliseconds, monotonic here (a wall-clock step must not refill buckets). */
function wholeMilliseconds(): number {
  return Math.floor(performance.now());
}
