import type { RouteConfig, RouteStaticTarget } from '../../config/index.js';
import type { Exchange } from '../exchange.js';
import { serveStatic } from './serve-file.js';

/**
 * A static route's answer in the request path (nginx `root` + `try_files`): made from disk, no pool
 * involved, like a redirect route's. The exchange is settled at once (nothing is retried) and
 * counts the body bytes sent, so the access log and metrics see it as any other response (route
 * label = the route's name, upstream none).
 */
export function answerFromDisk(
  ex: Exchange,
  route: RouteConfig,
  target: RouteStaticTarget,
  closing: boolean,
): void {
  ex.settled = true;
  if (ex.origin.close || closing) ex.res.shouldKeepAlive = false;
  serveStatic({
    req: ex.req,
    res: ex.res,
    route,
    target,
    requestId: ex.origin.requestId,
    onBodyBytes: (bytes) => {
      ex.bytesSent += bytes;
    },
  });
}
