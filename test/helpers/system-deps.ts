import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../config/index.js';
import type { SystemDepName } from '../../scripts/system-deps.js';

// The list of what the machine must have is plain JavaScript beside the preflight (which runs
// before the build), so it is loaded from the source tree rather than from dist/.
const catalogue: typeof import('../../scripts/system-deps.js') = await import(
  pathToFileURL(join(packageRoot, 'scripts', 'system-deps.js')).href
);

export type { SystemDepName };
export const { which, globalPm2, composeCommand, logrotateBin } = catalogue;

/** Why one of the named programs is not usable here (one line, with the fix), or null when all are. */
export function missing(...names: SystemDepName[]): string | null {
  const reasons = names.flatMap((name) => {
    const why = catalogue.systemDeps.find((dep) => dep.name === name)!.missing();
    return why === null ? [] : [`${name}: ${why}`];
  });
  return reasons.length === 0 ? null : `${reasons.join('; ')} (${catalogue.setupCommand} installs it)`;
}

/** CI=true (any value but false/0): nothing may be skipped for a missing program there. */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.CI) && !/^(false|0)$/i.test(env.CI ?? '');
}

/**
 * Options for a test or suite that needs these programs on the machine: skipped, with the reason,
 * when one is missing. Under CI a missing program fails instead: one test named after it fails
 * with the reason (and the suite is still skipped, so its tests do not each fail again with a
 * stack trace from the missing program).
 */
export function requires(...names: SystemDepName[]): { skip: string | false } {
  const why = missing(...names);
  if (why === null) return { skip: false };
  if (underCi()) {
    test(`${names.join(' and ')} installed (under CI a missing program fails, it is not skipped)`, () => {
      const error = new Error(why);
      error.stack = `Error: ${why}`;
      throw error;
    });
  }
  return { skip: why };
}
