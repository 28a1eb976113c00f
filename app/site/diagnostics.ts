import { setTimeout as sleep } from 'node:timers/promises';
import { checkDeclaredLength, limitBody } from './body.js';
import { bytes } from './bytes.js';
import { badRequest, HttpError } from './http-error.js';
import type { Route, RouteHandler } from './router.js';

/** Statuses whose responses must not carry a body (the Response constructor rejects one). */
const NULL_BODY = new Set([204, 205, 304]);

const healthz: RouteHandler = () =>
  new Response('ok', { headers: { 'content-type': 'text/plain; charset=utf-8' } });

/** Always on, diagnostics or not: the proxy's active health checks probe it. */
export const healthRoute: Route = { method: 'GET', path: '/healthz', handler: healthz };

/** The httpbin-like routes that tests and users poke at; all off when diagnostics are off. */
export function diagnosticRoutes(options: {
  bodyLimit: number;
  maxDelay: number;
  maxBlock: number;
}): Route[] {
  const { bodyLimit, maxDelay, maxBlock } = options;

  const headers: RouteHandler = (request, _params, context) =>
    Response.json({ headers: Object.fromEntries(request.headers), worker: context.worker });

  const delay: RouteHandler = async (request, params) => {
    if (!/^\d{1,15}$/.test(params.ms!)) throw badRequest('The delay must be a whole number of milliseconds.');
    const ms = Math.min(Number(params.ms), maxDelay);
    // A client that went away needs no answer; the abort just ends the wait early.
    await sleep(ms, undefined, { signal: request.signal }).catch(() => {});
    return Response.json({ delay: ms });
  };

  // A hung worker on demand (workers.timeout's tests): the event loop busy for ms, answering
  // nothing else, as a runaway loop or a long synchronous call would. Capped, unlike a real hang.
  const block: RouteHandler = (_request, params) => {
    if (!/^\d{1,15}$/.test(params.ms!)) throw badRequest('The block must be a whole number of milliseconds.');
    const ms = Math.min(Number(params.ms), maxBlock);
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // Busy on purpose: nothing else runs on this worker until the time is up.
    }
    return Response.json({ blocked: ms });
  };

  const status: RouteHandler = (_request, params) => {
    const code = /^\d{3}$/.test(params.code!) ? Number(params.code) : 0;
    if (code < 200 || code > 599) throw badRequest('The status must be a number from 200 to 599.');
    const body = NULL_BODY.has(code) ? null : `${code}\n`;
    return new Response(body, {
      status: code,
      headers: body ? { 'content-type': 'text/plain; charset=utf-8' } : {},
    });
  };

  const echo: RouteHandler = (request) => {
    checkDeclaredLength(request, bodyLimit);
    const type = request.headers.get('content-type');
    // Piped, never buffered: each chunk goes back as soon as it came in, with the socket's backpressure.
    return new Response(request.body?.pipeThrough(limitBody(bodyLimit)) ?? null, {
      headers: type ? { 'content-type': type } : {},
    });
  };

  const websocketWithoutUpgrade: RouteHandler = () => {
    throw new HttpError(
      426,
      'GH_ERR_UPGRADE_REQUIRED',
      'This is a WebSocket echo: connect with a WebSocket client.',
      {
        upgrade: 'websocket',
      },
    );
  };

  return [
    { method: 'GET', path: '/headers', handler: headers },
    { method: 'GET', path: '/delay/:ms', handler: delay },
    { method: 'GET', path: '/block/:ms', handler: block },
    { method: 'GET', path: '/status/:code', handler: status },
    { method: 'GET', path: '/bytes/:n', handler: bytes },
    { method: 'POST', path: '/echo', handler: echo },
    // The upgrade itself never reaches here: the worker hands it to the site's upgrade().
    { method: 'GET', path: '/ws', handler: websocketWithoutUpgrade },
  ];
}
