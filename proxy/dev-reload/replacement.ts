import { request } from 'node:http';
import { parseWorkerHeader, WORKER_HEADER } from '../../stack/worker-identity.js';
import type { Upstream } from '../pool/upstream.js';

/** What one worker answered: its address, and who it is (null: no answer, or not a gatehouse worker). */
export interface WorkerAnswer {
  address: string;
  identity: string | null;
}

/**
 * When have the workers been replaced? Each round asks every worker the proxy would send a
 * request to now who it is (host name and pid, from the Gatehouse-Worker header of its health
 * answer), and compares that with who answered at each address at the last reload (or when the
 * proxy started):
 *
 * - **steady**: every worker answering at a known address is the same process. A worker at a new
 *   address (the pool filling up at start, a scale up) joins the current generation.
 * - **changing**: some address is answered by another process (pm2's watcher restarted it). No
 *   joining then: the pool is a mix of old and new code.
 * - **replaced**: every worker answers and none is a process of the last generation. A page
 *   loaded now gets new code: that is when pages reload, and the answers become the generation.
 *
 * Under pm2 a restarting worker leaves the pool while it drains, so with the last old worker
 * draining the pool may already be new processes only: the reload comes then, and the page is
 * served by a new worker; the last one rejoins at its address as part of the new generation.
 *
 * Not a reload: one worker crashing and coming back while the others run on (a mix). A second one
 * crashing later does complete the replacement, and pages reload then too — in development that
 * costs a page load, where a missed reload would show stale code.
 */
export class ReplacementDetector {
  private last: Map<string, string> | null = null;

  /** One round of answers; true when pages should reload now. */
  observe(answers: readonly WorkerAnswer[]): boolean {
    if (answers.length === 0) return false;
    const last = this.last;
    if (last === null) {
      this.last = answered(answers);
      return false;
    }
    let missing = false;
    let unchanged = false;
    let replaced = false;
    for (const { address, identity } of answers) {
      if (identity === null) missing = true;
      else if (!last.has(address)) continue;
      else if (last.get(address) === identity) unchanged = true;
      else replaced = true;
    }
    if (!replaced && (unchanged || last.size === 0)) {
      for (const { address, identity } of answers)
        if (identity !== null && !last.has(address)) last.set(address, identity);
      return false;
    }
    if (missing || unchanged) return false;
    this.last = answered(answers);
    return true;
  }
}

function answered(answers: readonly WorkerAnswer[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const { address, identity } of answers) if (identity !== null) map.set(address, identity);
  return map;
}

/** `hostname/pid` from a worker's health answer: the pid alone repeats across containers. */
export function workerIdentity(header: string | string[] | undefined): string | null {
  const report = parseWorkerHeader(header);
  return report ? `${report.hostname}/${report.pid}` : null;
}

/** Asks one upstream's health path who answers there; null when nobody (or no gatehouse worker) does. */
export function askIdentity(upstream: Upstream, path: string, timeout: number): Promise<string | null> {
  return new Promise((resolve) => {
    const req = request({
      host: upstream.host,
      port: upstream.port,
      path,
      agent: false,
      headers: { connection: 'close', 'user-agent': 'gatehouse-dev-reload' },
    });
    req.setTimeout(timeout, () => req.destroy());
    req.once('response', (res) => {
      res.resume();
      res.once('error', () => {});
      resolve(
        res.statusCode !== undefined && res.statusCode < 400
          ? workerIdentity(res.headers[WORKER_HEADER])
          : null,
      );
    });
    req.once('error', () => resolve(null));
    req.once('close', () => resolve(null));
    req.end();
  });
}
