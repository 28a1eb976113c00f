import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A directory to use as the whole PATH, holding stand-ins for the named programs: each a shell
 * script that prints `output` and exits `code` (a `docker` exiting 0 answers info, image inspect
 * and compose version alike).
 */
export function fakePath(programs: Record<string, { code?: number; output?: string }>) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-path-'));
  for (const [name, { code = 0, output = '' }] of Object.entries(programs)) {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\necho '${output}' >&2\nexit ${code}\n`);
    chmodSync(file, 0o755);
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
