import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Options, ValidateFunction } from 'ajv';
import { configSchema } from './schema.js';

// The config schema's validator. Ajv turns a schema into JavaScript, and doing that at every
// start was about 170 ms of CPU of a proxy's ~830 ms start — paid by every process of a cluster,
// every pm2 reload and every `gatehouse check`. `npm run build` writes the generated code next to
// this module (scripts/build-validator.js, Ajv's own standalone output), and a start uses it when
// it was made from the schema this build has; otherwise (a tsc run without the script, an edited
// schema) the schema is compiled as before. CommonJS, loaded with require(): the config loader
// is synchronous, and pm2 require()s the ecosystem file, which loads the config.

const require = createRequire(import.meta.url);

/** The options of every validator, prebuilt or compiled: allErrors so a check lists every problem. */
const OPTIONS: Options = { allErrors: true, strict: true, allowUnionTypes: true, verbose: true };

/** The prebuilt validator's file name, beside this module in dist/config/. */
export const PREBUILT_FILE = 'validate-config.cjs';

/** What identifies the schema a prebuilt validator was made from. */
export function schemaHash(schema: object): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('hex');
}

/** A prebuilt module's export: the validate function, with the hash of its schema. */
type Prebuilt = ValidateFunction & { schemaHash?: unknown };

/** `module` (what require() gave, or null) when it is a validator made from `schema`; else null. */
export function matchingPrebuilt(module: unknown, schema: object): ValidateFunction | null {
  if (typeof module !== 'function') return null;
  return (module as Prebuilt).schemaHash === schemaHash(schema) ? (module as Prebuilt) : null;
}

function loadPrebuilt(): unknown {
  try {
    return require(`./${PREBUILT_FILE}`);
  } catch {
    return null;
  }
}

/** Ajv's `standaloneCode(ajv, validate)`: the compiled function's module source. */
type StandaloneCode = (ajv: ReturnType<typeof ajvWith>, validate: ValidateFunction) => string;

function ajvWith(extra: Options = {}) {
  const { Ajv } = require('ajv') as typeof import('ajv');
  return new Ajv({ ...OPTIONS, ...extra });
}

/** The validator for `schema`: the prebuilt one when it matches, else compiled now. */
export function configValidator(schema: object = configSchema): ValidateFunction {
  return matchingPrebuilt(loadPrebuilt(), schema) ?? ajvWith().compile(schema);
}

/** The prebuilt validator's source (CommonJS): Ajv's standalone code, and the schema's hash. */
export function prebuiltSource(schema: object = configSchema): string {
  const ajv = ajvWith({ code: { source: true } });
  const standaloneCode = require('ajv/dist/standalone') as StandaloneCode;
  const code = standaloneCode(ajv, ajv.compile(schema));
  return `${code}\nmodule.exports.schemaHash = ${JSON.stringify(schemaHash(schema))};\n`;
}
