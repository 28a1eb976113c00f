import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';
import { configSchema } from '../../config/schema.js';
import {
  configValidator,
  matchingPrebuilt,
  PREBUILT_FILE,
  prebuiltSource,
  schemaHash,
} from '../../config/validator.js';

const require = createRequire(import.meta.url);

const schema = {
  type: 'object',
  properties: { port: { type: 'integer', minimum: 1 }, name: { type: 'string', minLength: 2 } },
  additionalProperties: false,
};

/**
 * The prebuilt source for `schema`, written to a file and loaded as the build's would be: in a
 * folder of this package, where its require('ajv/dist/runtime/…') finds the package's ajv.
 */
function loadSource(source: string): unknown {
  const dir = mkdtempSync(join(fileURLToPath(new URL('.', import.meta.url)), 'validator-'));
  try {
    const file = join(dir, PREBUILT_FILE);
    writeFileSync(file, source);
    return require(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the prebuilt source validates as the compiled schema does, errors and their data included', () => {
  const prebuilt = matchingPrebuilt(loadSource(prebuiltSource(schema)), schema);
  assert.ok(prebuilt, 'the prebuilt module is a validator of this schema');
  const compiled = configValidator({ ...schema, $comment: 'not the prebuilt one' });
  for (const data of [{ port: 80, name: 'ok' }, { port: 0, name: 'x', extra: true }, { port: 'eighty' }]) {
    assert.equal(prebuilt(data), compiled(data), JSON.stringify(data));
    const strip = (errors: ValidateFunction['errors']): unknown[] =>
      (errors ?? []).map(({ instancePath, keyword, params, data: value }) => ({
        instancePath,
        keyword,
        params,
        value,
      }));
    assert.deepEqual(strip(prebuilt.errors), strip(compiled.errors), JSON.stringify(data));
  }
  // allErrors: each of the three problems of the second document is listed.
  assert.equal(prebuilt({ port: 0, name: 'x', extra: true }), false);
  assert.equal(prebuilt.errors?.length, 3);
});

test('a prebuilt module is used only when it was made from the same schema', () => {
  const module = loadSource(prebuiltSource(schema));
  assert.equal(matchingPrebuilt(module, { ...schema, required: ['port'] }), null, 'another schema: compile');
  assert.equal(matchingPrebuilt(null, schema), null, 'no file: compile');
  assert.equal(matchingPrebuilt({ schemaHash: schemaHash(schema) }, schema), null, 'not a function');
});

test('npm run build wrote the config validator for the schema this build has', () => {
  const file = join(fileURLToPath(new URL('../../config/', import.meta.url)), PREBUILT_FILE);
  assert.ok(matchingPrebuilt(require(file), configSchema), `${file}: missing or made from another schema`);
});
