import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * The gateway interface: what a server asks of an app, as WSGI's
 * `application(environ, start_response)` does in Python. An app is a Fetch-API handler —
 * the shape Hono, Bun, Deno and Cloudflare Workers share — so it also runs unchanged elsewhere.
 */
export type FetchHandler = (request: Request, context: RequestContext) => Response | Promise<Response>;

/** Node's own request listener, so Express/Koa/Fastify apps can be served as workers. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => void;

/** An HTTP upgrade (WebSocket) handler; the Fetch API has no socket to hand over. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** What the server tells the app beyond the request itself. */
export interface RequestContext {
  /** X-Request-Id from the proxy, or one the worker made. */
  requestId: string;
  /** Address of the peer that connected to the worker. */
  remoteAddress: string;
  worker: WorkerInfo;
}

/** Which worker process is serving: enough to tell every replica apart, on one host or many. */
export interface WorkerInfo {
  /** os.hostname(): in Docker the container id, the one field that differs between replicas. */
  hostname: string;
  pid: number;
  /** pm2's instance number (0 when not under pm2). */
  instance: number;
  port: number;
}

/** An app in the form a worker serves: exactly one of `fetch` or `listener`, optionally `upgrade`. */
export interface GatewayApp {
  fetch?: FetchHandler;
  listener?: NodeListener;
  upgrade?: UpgradeHandler;
  /** Called once when the worker stops, after in-flight requests ended. */
  close?: () => void | Promise<void>;
}

/** What an app module may export as its default (or as `app`). */
export type AppExport = GatewayApp | FetchHandler | NodeListener;

/**
 * Turns a module's export into a GatewayApp. A function taking one parameter is a Fetch handler;
 * two or more, a Node listener (Express apps take three: req, res, next).
 */
export function toGatewayApp(value: unknown): GatewayApp {
  if (typeof value === 'function') {
    return value.length >= 2 ? { listener: value as NodeListener } : { fetch: value as FetchHandler };
  }
  if (typeof value === 'object' && value !== null) {
    const app = value as GatewayApp;
    const kinds = [typeof app.fetch === 'function', typeof app.listener === 'function'].filter(
      Boolean,
    ).length;
    if (kinds === 1) return app;
    throw new TypeError('an app object must have exactly one of fetch(request) or listener(req, res)');
  }
  throw new TypeError(
    `an app must be a function or an object with fetch(), got ${value === null ? 'null' : typeof value}`,
  );
}
