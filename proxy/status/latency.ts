/** Latency percentiles in milliseconds, or null fields when nothing was recorded yet. */
export interface LatencyPercentiles {
  samples: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export const defaultLatencySamples = 1024;

/**
 * The last `capacity` latencies of one upstream. `record` runs on every request, so it only
 * writes into a preallocated typed array; sorting happens when someone reads the status.
 */
export class LatencyRing {
  readonly capacity: number;
  private readonly samples: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(capacity: number = defaultLatencySamples) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer`);
    this.capacity = capacity;
    this.samples = new Float64Array(capacity);
  }

  /** Samples held now (at most `capacity`). */
  get size(): number {
    return this.filled;
  }

  record(ms: number): void {
    // A NaN or negative sample would poison every percentile after the sort; drop it instead.
    if (!(ms >= 0)) return;
    this.samples[this.next] = ms;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
    if (this.filled < this.capacity) this.filled++;
  }

  /** Nearest-rank percentiles over the samples held. */
  percentiles(): LatencyPercentiles {
    const n = this.filled;
    if (n === 0) return { samples: 0, p50: null, p95: null, p99: null };
    const sorted = this.samples.slice(0, n).sort();
    return { samples: n, p50: rank(sorted, 0.5), p95: rank(sorted, 0.95), p99: rank(sorted, 0.99) };
  }
}

function rank(sorted: Float64Array, q: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index] ?? 0;
}

/** Latency rings by upstream address; a ring is made on the first sample of an upstream. */
export interface LatencyBook {
  record(upstream: string, ms: number): void;
  percentiles(upstream: string): LatencyPercentiles;
  /** Drops the rings of upstreams not in `addresses` (the pool changed). */
  retain(addresses: Iterable<string>): void;
}

export function createLatencyBook({
  capacity = defaultLatencySamples,
}: {
  capacity?: number;
} = {}): LatencyBook {
  const rings = new Map<string, LatencyRing>();
  const empty = new LatencyRing(1).percentiles();

  return {
    record: function recordLatency(upstream, ms) {
      let ring = rings.get(upstream);
      if (ring === undefined) {
        ring = new LatencyRing(capacity);
        rings.set(upstream, ring);
      }
      ring.record(ms);
    },
    percentiles: function latencyPercentiles(upstream) {
      return rings.get(upstream)?.percentiles() ?? { ...empty };
    },
    retain: function retainLatency(addresses) {
      const keep = new Set(addresses);
      for (const address of rings.keys()) if (!keep.has(address)) rings.delete(address);
    },
  };
}
