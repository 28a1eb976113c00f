import type { ServerConfig } from '../../config/index.js';
import type { PoolSource } from './source.js';

/** The config's own server list: one snapshot, delivered at once, never changing. */
export function createStaticSource(servers: readonly ServerConfig[]): PoolSource {
  const snapshot = Object.freeze([...servers]);
  return {
    start(onSnapshot) {
      onSnapshot(snapshot);
    },
    stop() {},
  };
}
