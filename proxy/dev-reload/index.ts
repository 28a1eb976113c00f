import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Config, formatAddress } from '../../config/index.js';
import type { Logger } from '../../process/logger.js';
import type { Pool } from '../pool/pool.js';
import { cspRefusal } from './csp.js';
import { createReloadHub, EVENTS_PATH, formatGeneration, SCRIPT_PATH } from './events.js';
import { interceptHtml, skipReason } from './inject.js';
import { askIdentity, ReplacementDetector } from './replacement.js';

export { CLIENT_SCRIPT, EVENTS_PATH, SCRIPT_PATH } from './events.js';

/**
 * The development loop's last step, in the proxy: every HTML page served through it loads a small
 * script from the status listener, which keeps an event stream open and reloads the page when the
 * proxy pushes `reload` — once every worker of the pool is a new process that answers (a change
 * was built, pm2's watcher restarted the workers one by one).
 *
 * Development only (NODE_ENV=development, which the ecosystem's development profile sets): in
 * production the proxy makes none of this, and the request path pays one null check.
 *
 * Why the status listener's origin and not an inline script: a page whose Content-Security-Policy
 * forbids inline scripts (`script-src 'self'`) keeps working, and its policy is read to see
 * whether it allows that origin; if not, the page is left as the worker wrote it and the log
 * says so, once per policy.
 */
export interface DevReload {
  /** For each client request: a GET answered with an HTML page gets the script tag. */
  prepare(req: IncomingMessage, res: ServerResponse): void;
  /** For the status listener: the script and the event stream; false for its other paths. */
  serve(req: IncomingMessage, res: ServerResponse, pathname: string, search: URLSearchParams): boolean;
  /** Once the status listener listens: starts asking the workers who they are. */
  start(statusAddress: AddressInfo): void;
  /** Ends the event streams and the rounds. */
  stop(): void;
}

export interface DevReloadOptions {
  logger: Logger;
  getPool: () => Pool;
  /** Read each round: the health path and probe timeout; status.listen for the script's origin. */
  getConfig: () => Config;
  /** Between two rounds of asking the workers, in ms. */
  interval?: number;
}

// How many distinct refusing policies are remembered to log each once; past that, none is logged.
const LOGGED_POLICIES = 50;

export function createDevReload(options: DevReloadOptions): DevReload {
  const { logger, getPool, getConfig, interval = 500 } = options;
  const hub = createReloadHub(`${Date.now().toString(36)}${process.pid.toString(36)}`);
  const detector = new ReplacementDetector();
  const loggedPolicies = new Set<string>();
  let statusPort = 0;
  let timer: NodeJS.Timeout | null = null;
  let running = false;

  /** The script's address as this page's browser reaches it: the status port on the host it used. */
  function scriptUrl(req: IncomingMessage): URL {
    const { host } = getConfig().status.listen;
    const wildcard = host === '' || host === '0.0.0.0' || host === '::';
    let hostname = wildcard ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    if (wildcard && req.headers.host) {
      try {
        hostname = new URL(`http://${req.headers.host}`).hostname;
      } catch {}
    }
    const url = new URL(`http://${hostname}:${statusPort}${SCRIPT_PATH}`);
    url.searchParams.set('g', formatGeneration(hub.generation));
    return url;
  }

  function tagFor(req: IncomingMessage, status: number, get: (name: string) => string[]): Buffer | null {
    if (skipReason(status, get) !== null) return null;
    const script = scriptUrl(req);
    const policies = get('content-security-policy');
    const refused = cspRefusal(policies, script, new URL(EVENTS_PATH, script));
    if (refused) {
      const key = policies.join('\n');
      if (!loggedPolicies.has(key) && loggedPolicies.size < LOGGED_POLICIES) {
        loggedPolicies.add(key);
        logger.warn(
          { path: req.url, directive: refused, origin: script.origin, policy: key },
          `development reload: the page's Content-Security-Policy (${refused}) does not allow ${script.origin}; serving it without the reload script`,
        );
      }
      return null;
    }
    const src = script.href.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
    return Buffer.from(`<script src="${src}" async></script>`);
  }

  async function round(): Promise<void> {
    const { path, timeout } = getConfig().upstream.health;
    const upstreams = getPool().upstreams.filter((upstream) => upstream.available());
    const answers = await Promise.all(
      upstreams.map(async (upstream) => ({
        address: upstream.address,
        identity: await askIdentity(upstream, path, timeout),
      })),
    );
    if (!running || !detector.observe(answers)) return;
    const pages = hub.reload();
    logger.info(
      { workers: answers.map((answer) => answer.identity), pages },
      `development reload: every worker is a new process; ${pages === 1 ? '1 open page' : `${pages} open pages`} told to reload`,
    );
  }

  function schedule(): void {
    if (!running) return;
    timer = setTimeout(() => {
      round().finally(schedule);
    }, interval);
    timer.unref();
  }

  return {
    prepare(req, res) {
      if (req.method !== 'GET') return;
      interceptHtml(res, (status, get) => tagFor(req, status, get));
    },
    serve: (req, res, pathname, search) => hub.serve(req, res, pathname, search),
    start(statusAddress) {
      if (running) return;
      running = true;
      statusPort = statusAddress.port;
      logger.info(
        {
          script: `http://${formatAddress({ host: getConfig().status.listen.host, port: statusPort })}${SCRIPT_PATH}`,
        },
        'development reload: HTML pages get a reload script, and reload once every worker was replaced',
      );
      void round().finally(schedule);
    },
    stop() {
      running = false;
      if (timer) clearTimeout(timer);
      timer = null;
      hub.close();
    },
  };
}
