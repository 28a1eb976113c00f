import { freePort } from '../helpers/nginx.js';
import { createRawBackend, type RawBackend } from '../helpers/raw-backend.js';
import { startWorker } from '../helpers/worker-process.js';
import type { CaseEnv, ConformanceCase } from './case.js';
import type { Front } from './fronts.js';
import type { ScriptedBackend } from './scripted-backend.js';

/**
 * Runs one case on one front: starts its backends, the front in front of them, runs the check,
 * and stops everything it started, pass or fail.
 */
export async function runCase(c: ConformanceCase, front: Front): Promise<void> {
  const raw: RawBackend[] = [];
  const scripted: ScriptedBackend[] = [];
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    const servers: string[] = [];
    for (const [i, spec] of c.backends.entries()) {
      if (spec.kind === 'raw') {
        const backend = await createRawBackend({
          name: spec.name ?? `backend-${i + 1}`,
          ...(spec.answer ? { answer: spec.answer } : {}),
        });
        cleanups.push(() => backend.close());
        raw.push(backend);
        servers.push(backend.address);
      } else if (spec.kind === 'scripted') {
        const backend = await spec.start();
        cleanups.push(() => backend.close());
        scripted.push(backend);
        servers.push(backend.address);
      } else if (spec.kind === 'worker') {
        const worker = await startWorker();
        cleanups.push(() => worker.stop());
        servers.push(`127.0.0.1:${worker.port}`);
      } else {
        servers.push(`127.0.0.1:${await freePort()}`);
      }
    }
    const overrides = typeof c.overrides === 'function' ? c.overrides(servers) : (c.overrides ?? {});
    const started = await front.start({ servers, overrides });
    // The front first: it must not see its backends vanish while it is still being asked.
    cleanups.unshift(() => started.stop());
    const env: CaseEnv = { front: front.name, port: started.port, raw, scripted, servers };
    await c.check(env);
  } catch (err) {
    await cleanUp(cleanups);
    throw err;
  }
  // A failure to stop is a failure of its own, reported when the check itself passed.
  const errors = await cleanUp(cleanups);
  if (errors.length > 0) throw errors[0];
}

async function cleanUp(cleanups: Array<() => Promise<unknown>>): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (const cleanup of cleanups.splice(0)) {
    try {
      await cleanup();
    } catch (err) {
      errors.push(err);
    }
  }
  return errors;
}
