import assert from 'node:assert/strict';
import { ConfigError, type ConfigProblem } from '../../config/index.js';
import { testConfig } from '../helpers/proxy.js';

/** The problems a test config with these keys has (failing if it loads). */
export function problems(overrides: Record<string, unknown>): readonly ConfigProblem[] {
  try {
    testConfig(overrides);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('the config loaded; expected problems');
}

/** One of the problems is at `path` and says what `pattern` matches. */
export function problemAt(list: readonly ConfigProblem[], path: string, pattern: RegExp): void {
  const found = list.find((p) => p.path === path);
  assert.ok(found, `no problem at ${path}: ${JSON.stringify(list)}`);
  assert.match(found.message, pattern);
}
