import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { TYPESCRIPT_ADVICE as ADVICE, typeScriptLoadError } from '../../app/typescript.js';
import { packageRoot } from '../../config/index.js';
import { runFailingWorker, type StartWorkerOptions, startWorker } from '../helpers/worker-process.js';

// The fixture is served as its .ts source: tsconfig.json excludes its folder from the build.
const tsApp = join(packageRoot, 'test', 'fixtures', 'apps', 'typescript', 'server.ts');
const typescript = (process.features as { typescript?: string | false }).typescript;

/** How the TypeScript module is named: on the command line, or in the config file. */
const ways: { name: string; start: StartWorkerOptions }[] = [
  { name: '--app server.ts', start: { app: tsApp } },
  { name: 'workers.app: server.ts', start: { config: { workers: { app: tsApp } } } },
];

describe(`a TypeScript app module on Node ${process.version} (type stripping: ${typescript})`, {
  timeout: 60_000,
}, () => {
  for (const way of ways) {
    if (typescript) {
      test(`${way.name}: Node strips the types and the worker serves it, no build step`, async (t) => {
        const worker = await startWorker(way.start);
        t.after(() => worker.stop());
        const res = await fetch(`http://127.0.0.1:${worker.port}/typed`);
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { typescript, path: '/typed' });
      });
    } else {
      test(`${way.name}: one line says which file, why and what to do, then exit 1 before listening`, async () => {
        const { exit, errors, describe } = await runFailingWorker(way.start);
        assert.deepEqual(exit, { code: 1, signal: null }, describe());
        assert.equal(errors.length, 1, describe());
        assert.equal(errors[0]!.msg, 'cannot load the app; exiting');
        assert.equal(
          (errors[0]!.err as { message: string }).message,
          `${tsApp} is TypeScript, which Node ${process.version} cannot run: ${ADVICE}`,
        );
      });
    }
  }

  // Node 24 proves the other way to lack type stripping too: turned off.
  const nothingToTurnOff = typescript === undefined && 'this Node has no type stripping to turn off';
  test('where type stripping exists but is turned off, the line says so', {
    skip: nothingToTurnOff,
  }, async () => {
    const { exit, errors, describe } = await runFailingWorker({
      app: tsApp,
      env: { NODE_OPTIONS: '--no-experimental-strip-types' },
    });
    assert.equal(exit.code, 1, describe());
    assert.equal(
      (errors[0]!.err as { message: string }).message,
      `${tsApp} is TypeScript, and Node ${process.version} has type stripping off: ${ADVICE}`,
    );
  });
});

describe('typeScriptLoadError', () => {
  test('the advice says what to do: compile it, or a Node that strips types', () => {
    assert.match(
      ADVICE,
      /^compile it with tsc and serve the \.js, or run Node 24 \(Node 22: NODE_OPTIONS=--experimental-strip-types\)/,
    );
  });

  test('syntax type stripping cannot remove (an enum): the file, the reason and the way out', () => {
    const err = Object.assign(new Error('TypeScript enum is not supported in strip-only mode'), {
      code: 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX',
    });
    assert.equal(
      typeScriptLoadError('/app/server.ts', err)?.message,
      '/app/server.ts: TypeScript enum is not supported in strip-only mode; compile it with tsc and serve the .js, or start Node with --experimental-transform-types',
    );
  });

  test('anything else, or a JavaScript module: left as it was (null)', () => {
    const unknown = Object.assign(new Error('Unknown file extension'), {
      code: 'ERR_UNKNOWN_FILE_EXTENSION',
    });
    assert.equal(typeScriptLoadError('/app/server.js', unknown), null);
    assert.equal(typeScriptLoadError('/app/server.ts', new Error('fails-to-load')), null);
  });
});
