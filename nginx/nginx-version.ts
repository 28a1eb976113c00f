import { spawnSync } from 'node:child_process';

/** The version of the nginx on PATH (`nginx -v` prints "nginx version: nginx/1.22.1" on stderr), or null. */
export function installedNginxVersion(bin = 'nginx'): string | null {
  const result = spawnSync(bin, ['-v'], { encoding: 'utf8', timeout: 10_000 });
  if (result.error) return null;
  return /nginx\/(\d+\.\d+\.\d+)/.exec(`${result.stderr}${result.stdout}`)?.[1] ?? null;
}
