import type { ServerConfig } from '../../config/index.js';
import type { Logger } from '../../process/logger.js';

/** How a discovering source hands its snapshots to the pool. */
export interface SnapshotDelivery {
  /** Delivers `servers` unless they are the addresses delivered last; logs each change once. */
  deliver(onSnapshot: (servers: readonly ServerConfig[]) => void, servers: ServerConfig[]): void;
  /** Forgets the last delivery (a restarted source delivers its first snapshot whatever it is). */
  reset(): void;
}

/**
 * A re-list that finds the same workers changes nothing: the pool sees a snapshot only when its
 * addresses changed. A consumer that throws is logged and must not stop discovery.
 */
export function createSnapshotDelivery(
  kind: string,
  fields: Record<string, unknown>,
  logger: Logger | undefined,
): SnapshotDelivery {
  let lastKey: string | null = null;
  return {
    deliver(onSnapshot, servers) {
      const addresses = servers.map((s) => s.address);
      const key = addresses.join(' ');
      if (key === lastKey) return;
      lastKey = key;
      logger?.info({ ...fields, servers: addresses }, `${kind} pool changed`);
      try {
        onSnapshot(Object.freeze(servers));
      } catch (error) {
        logger?.error({ err: error, ...fields }, `applying the ${kind} pool failed`);
      }
    },
    reset() {
      lastKey = null;
    },
  };
}
