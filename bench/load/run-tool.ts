import { spawn } from 'node:child_process';

/**
 * Runs a load tool for a burst of `seconds` and parses what it printed (stdout and stderr). Killed
 * 30 s past its burst: a tool that hangs must not hang the bench.
 */
export function runTool<T>(
  bin: string,
  args: readonly string[],
  seconds: number,
  parse: (out: string) => T,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const collect = (chunk: string) => {
      out += chunk;
    };
    child.stdout.setEncoding('utf8').on('data', collect);
    child.stderr.setEncoding('utf8').on('data', collect);
    const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(killer);
      if (code !== 0) return reject(new Error(`${bin} exited with ${code}:\n${out}`));
      try {
        resolve(parse(out));
      } catch (err) {
        reject(err);
      }
    });
  });
}
