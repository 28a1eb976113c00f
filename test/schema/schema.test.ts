import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { configSchema, defaultConfigFile, packageRoot } from '../../config/index.js';

test('the committed gatehouse.schema.json equals a fresh export (npm run schema re-writes it)', () => {
  const committed = readFileSync(join(packageRoot, 'gatehouse.schema.json'), 'utf8');
  assert.equal(
    committed,
    `${JSON.stringify(configSchema, null, 2)}\n`,
    'gatehouse.schema.json is stale: run `npm run schema`',
  );
});

test('the published schema accepts the embedded default config and rejects an unknown key', () => {
  const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(
    JSON.parse(readFileSync(join(packageRoot, 'gatehouse.schema.json'), 'utf8')),
  );
  const defaults = parse(readFileSync(defaultConfigFile, 'utf8')) as Record<string, unknown>;
  assert.equal(validate(defaults), true, JSON.stringify(validate.errors));
  assert.equal(validate({ ...defaults, lisen: '127.0.0.1:1' }), false);
});
