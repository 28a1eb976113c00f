/**
 * TypeScript app modules without a build step: Node strips the types itself where it can
 * (`process.features.typescript`: 'strip' on Node 24 and 22.18+, 'transform' with
 * --experimental-transform-types, false when turned off; undefined before Node 22.10). Elsewhere a
 * `.ts` module fails to import with ERR_UNKNOWN_FILE_EXTENSION, and a worker says what to do.
 */
import { extname } from 'node:path';

const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

export function isTypeScriptModule(path: string): boolean {
  return TYPESCRIPT_EXTENSIONS.has(extname(path));
}

/** Whether this Node runs a `.ts` module as it is (without a loader such as tsx). */
export function nodeRunsTypeScript(): boolean {
  return Boolean((process.features as { typescript?: string | false }).typescript);
}

/** What to do about a TypeScript module this Node cannot run: one sentence, no file name. */
export const TYPESCRIPT_ADVICE =
  'compile it with tsc and serve the .js, or run Node 24 (Node 22: NODE_OPTIONS=--experimental-strip-types), or register a loader (NODE_OPTIONS="--import tsx")';

/**
 * The error to log instead of `err` when importing the app module `path` failed because it is
 * TypeScript: this Node has no type stripping, or the module uses syntax stripping cannot remove
 * (enum, namespace, parameter properties). Null when `err` is something else.
 */
export function typeScriptLoadError(path: string, err: unknown): Error | null {
  if (!isTypeScriptModule(path)) return null;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && !nodeRunsTypeScript()) {
    const off = (process.features as { typescript?: unknown }).typescript === false;
    const why = off
      ? `and Node ${process.version} has type stripping off`
      : `which Node ${process.version} cannot run`;
    return new Error(`${path} is TypeScript, ${why}: ${TYPESCRIPT_ADVICE}`);
  }
  if (code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') {
    return new Error(
      `${path}: ${(err as Error).message}; compile it with tsc and serve the .js, or start Node with --experimental-transform-types`,
    );
  }
  return null;
}
