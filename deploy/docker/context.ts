import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import dockerignore from '@balena/dockerignore';

// A CommonJS module whose types declare a default export; the factory is also its own .default.
const createIgnore = dockerignore.default;

/**
 * The files of a build context, as the docker CLI would send them: every file under `dir` that
 * .dockerignore does not exclude, as sorted relative paths. An excluded directory is not walked
 * (node_modules is never read) unless an exception pattern (`!…`) could re-include something in it.
 *
 * dockerode packs `{ context, src }` with tar-fs and filters `src` by the same .dockerignore rules,
 * but tar-fs asks its ignore function about absolute paths while walking, where nested patterns
 * (a `**` glob) do not match; listing every file here leaves it nothing to walk.
 */
export async function listContextFiles(dir: string): Promise<string[]> {
  const rules = await readFile(join(dir, '.dockerignore'), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const ignore = createIgnore({ ignorecase: false }).add(rules);
  const exceptions = rules
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('!'))
    .map((line) => line.slice(1).trim().replace(/^\/+/, ''));
  const files: string[] = [];

  async function walk(relative: string): Promise<void> {
    const entries = await readdir(relative === '' ? dir : join(dir, relative), { withFileTypes: true });
    for (const entry of entries) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!ignore.ignores(path) || mayReinclude(path, exceptions)) await walk(path);
      } else if (!ignore.ignores(path)) {
        files.push(path);
      }
    }
  }

  await walk('');
  return files.sort();
}

/** Whether an exception pattern could match something inside the directory `path`. */
function mayReinclude(path: string, exceptions: readonly string[]): boolean {
  return exceptions.some((pattern) => {
    const literal = pattern.split(/[*?[\\]/)[0]!;
    // A pattern starting with a wildcard could match anywhere; else its literal head must lead here.
    return literal === '' || literal.startsWith(`${path}/`) || `${path}/`.startsWith(literal);
  });
}
