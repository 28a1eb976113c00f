import type { GatewayApp, RequestContext } from '../gateway.js';
import { diagnosticRoutes, healthRoute } from './diagnostics.js';
import { HttpError } from './http-error.js';
import { pageRoutes } from './pages.js';
import { createRouter, type Route } from './router.js';
import { createViews, type Views } from './views.js';
import { createWebSocketEcho } from './websocket.js';

export { HttpError } from './http-error.js';

export interface SiteOptions {
  /** /headers, /delay/:ms, /block/:ms, /status/:code, /bytes/:n, /echo and the /ws echo; /healthz stays on regardless. */
  diagnostics: boolean;
  /** Largest request body read, in bytes; more is answered with 413. */
  bodyLimit: number;
  /** Longest wait /delay/:ms grants, in ms. */
  maxDelay?: number;
  /** Longest /block/:ms (the event loop kept busy), in ms. */
  maxBlock?: number;
  /** Where the templates live (tests may point elsewhere); the package's app/site/views by default. */
  viewsDir?: string;
}

/**
 * The sample site: the Flask example from the WSGI tutorial (home, sign-in form, sign-in result),
 * rendered through Eta templates, plus the diagnostic routes the proxy's tests rely on.
 */
export function createSite(options: SiteOptions): GatewayApp {
  const { diagnostics, bodyLimit, maxDelay = 60_000, maxBlock = 120_000 } = options;
  const views = createViews(options.viewsDir);
  const routes: Route[] = [
    ...pageRoutes(views, { bodyLimit }),
    healthRoute,
    ...(diagnostics ? diagnosticRoutes({ bodyLimit, maxDelay, maxBlock }) : []),
  ];
  const router = createRouter(routes);
  const websocket = createWebSocketEcho({ path: diagnostics ? '/ws' : null, maxPayload: bodyLimit });

  async function dispatch(request: Request, context: RequestContext): Promise<Response> {
    const match = router.match(request.method, new URL(request.url).pathname);
    try {
      if (match.kind === 'not-found')
        throw new HttpError(404, 'GH_ERR_NOT_FOUND', 'There is no page at this address.');
      if (match.kind === 'method-not-allowed') {
        throw new HttpError(
          405,
          'GH_ERR_METHOD_NOT_ALLOWED',
          `This address answers ${match.allow.join(', ')} only.`,
          {
            allow: match.allow.join(', '),
          },
        );
      }
      return await match.handler(request, match.params, context);
    } catch (err) {
      if (err instanceof HttpError) return errorPage(views, err);
      throw err;
    }
  }

  return {
    fetch: async function serveSite(request, context) {
      const response = await dispatch(request, context);
      if (request.method !== 'HEAD' || response.body === null) return response;
      // Stripped here too, so the site stays correct under servers that do not strip HEAD bodies.
      await response.body.cancel();
      return new Response(null, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    },
    upgrade: websocket.upgrade,
    close: websocket.close,
  };
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  426: 'Upgrade Required',
};

function errorPage(views: Views, err: HttpError): Response {
  const title = TITLES[err.status] ?? 'Error';
  return views.page(
    'error',
    { title, status: err.status, message: err.message },
    { status: err.status, headers: { ...err.headers } },
  );
}
