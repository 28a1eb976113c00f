import type { ServerConfig } from '../../config/index.js';
import { Upstream } from './upstream.js';

/**
 * An immutable snapshot of the servers the proxy balances over (nginx's `upstream {}` block).
 * On a config reload, DNS change or Docker event the proxy builds a new Pool and swaps it in
 * whole; servers it already knew keep their Upstream object, so their live counters survive.
 */
export class Pool {
  static readonly empty: Pool = new Pool([]);

  readonly upstreams: readonly Upstream[];
  readonly primary: readonly Upstream[];
  readonly backup: readonly Upstream[];
  /** Sums of weights, which ip_hash and random need on every pick. */
  readonly primaryWeight: number;
  readonly backupWeight: number;
  private readonly byAddress: ReadonlyMap<string, Upstream>;

  constructor(upstreams: readonly Upstream[]) {
    this.upstreams = Object.freeze([...upstreams]);
    this.primary = Object.freeze(upstreams.filter((upstream) => !upstream.backup));
    this.backup = Object.freeze(upstreams.filter((upstream) => upstream.backup));
    this.primaryWeight = sumWeights(this.primary);
    this.backupWeight = sumWeights(this.backup);
    const byAddress = new Map<string, Upstream>();
    for (const upstream of upstreams)
      if (!byAddress.has(upstream.address)) byAddress.set(upstream.address, upstream);
    this.byAddress = byAddress;
    Object.freeze(this);
  }

  /**
   * Builds the pool for `servers`, taking over the previous pool's Upstream for every server
   * whose address and settings are unchanged. A server whose weight or health settings changed
   * gets a fresh Upstream (its settings are fixed at construction); in-flight requests on the
   * old object still finish and count there.
   */
  static fromServers(servers: readonly ServerConfig[], previous?: Pool): Pool {
    // Several entries may share an address (nginx allows it); each takes over at most one.
    const reusable = new Map<string, Upstream[]>();
    for (const upstream of previous?.upstreams ?? []) {
      const list = reusable.get(upstream.address);
      if (list) list.push(upstream);
      else reusable.set(upstream.address, [upstream]);
    }
    const upstreams = servers.map(function takeOverOrCreate(server) {
      const candidates = reusable.get(server.address);
      const at = candidates ? candidates.findIndex((upstream) => sameSettings(upstream, server)) : -1;
      if (candidates && at >= 0) return candidates.splice(at, 1)[0]!;
      return new Upstream(server);
    });
    return new Pool(upstreams);
  }

  get size(): number {
    return this.upstreams.length;
  }

  find(address: string): Upstream | undefined {
    return this.byAddress.get(address);
  }
}

function sameSettings(upstream: Upstream, server: ServerConfig): boolean {
  return (
    upstream.host === server.host &&
    upstream.port === server.port &&
    upstream.weight === server.weight &&
    upstream.maxFails === server.maxFails &&
    upstream.failTimeout === server.failTimeout &&
    upstream.backup === server.backup
  );
}

function sumWeights(upstreams: readonly Upstream[]): number {
  let total = 0;
  for (const upstream of upstreams) total += upstream.weight;
  return total;
}
