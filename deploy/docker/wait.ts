import { setTimeout as delay } from 'node:timers/promises';
import type { Engine } from './engine.js';
import { DeployError } from './errors.js';

export interface WaitOptions {
  /** Give up after this many ms. */
  timeout: number;
  /** Inspect every this many ms. */
  interval: number;
  sleep?: (ms: number) => Promise<unknown>;
  now?: () => number;
}

/**
 * Waits until every container is healthy (or running, if it has no healthcheck). A container that
 * exits, restarts or turns unhealthy first fails the wait at once: it will not get better by itself.
 */
export async function waitHealthy(
  engine: Engine,
  ids: readonly string[],
  options: WaitOptions,
): Promise<void> {
  const { timeout, interval, sleep = delay, now = Date.now } = options;
  const deadline = now() + timeout;
  const pending = new Set(ids);
  while (pending.size > 0) {
    for (const id of [...pending]) {
      const state = await engine.inspectContainer(id);
      if (state.status === 'exited' || state.status === 'dead' || state.status === 'restarting') {
        const how =
          state.status === 'restarting' ? 'crashed and is restarting' : `exited with code ${state.exitCode}`;
        throw new DeployError(
          'GH_ERR_DEPLOY_UNHEALTHY',
          `${state.name} ${how} before it was healthy; see: docker logs ${state.name}`,
        );
      }
      if (state.health === 'unhealthy') {
        throw new DeployError(
          'GH_ERR_DEPLOY_UNHEALTHY',
          `${state.name} is unhealthy; see: docker inspect ${state.name}`,
        );
      }
      if (state.running && (state.health === 'healthy' || state.health === 'none')) pending.delete(id);
    }
    if (pending.size === 0) return;
    if (now() >= deadline) {
      throw new DeployError(
        'GH_ERR_DEPLOY_UNHEALTHY',
        `not healthy after ${Math.round(timeout / 1000)} s: ${[...pending].map((id) => id.slice(0, 12)).join(', ')}`,
      );
    }
    await sleep(interval);
  }
}
