import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadResult, LoadRun } from './types.js';

const CHILD = fileURLToPath(new URL('./autocannon-child.js', import.meta.url));

/** One autocannon burst in a child process (see autocannon-child.ts). */
export function runAutocannon(run: LoadRun): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(run)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    // amount-bounded runs have no duration of their own: the caller's amount and this cap bound them.
    const cap = run.amount ? 15 * 60 : run.duration + 30;
    const killer = setTimeout(() => child.kill('SIGKILL'), cap * 1000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(killer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        return reject(new Error(`autocannon exited with ${code}:\n${err}${out}`));
      }
      resolve(JSON.parse(line) as LoadResult);
    });
  });
}
