import type { Config, LimitKey, LimitsConfig, RequestLimitConfig } from '../config/index.js';
import { indent } from './indent.js';

/** The route our proxy makes of the one pool when the config has no routes (proxy/routes/table.ts). */
export const SINGLE_POOL_ROUTE = 'default';

/**
 * A zone per limited route (one route, one set of buckets, as in our proxy). nginx's 10m holds
 * about 160,000 client addresses; ours keeps up to 100,000 keys per route and process.
 */
const ZONE_SIZE = '10m';

/** The limits a route runs under: its own, else the top-level ones (nginx's inheritance). */
function limitOf(config: Config, own: LimitsConfig | undefined): RequestLimitConfig | null {
  return (own ?? config.limits).requests;
}

/** Every proxying route with a request limit, by name (the single pool's when there are no routes). */
function limitedRoutes(config: Config): Array<{ name: string; limit: RequestLimitConfig }> {
  const routes =
    config.routes.length > 0
      ? config.routes.filter((r) => r.target.kind === 'pool').map((r) => ({ name: r.name, own: r.limits }))
      : [{ name: SINGLE_POOL_ROUTE, own: undefined }];
  return routes.flatMap(({ name, own }) => {
    const limit = limitOf(config, own);
    return limit ? [{ name, limit }] : [];
  });
}

function zoneName(route: string): string {
  return `gatehouse_${route.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** The key as an nginx variable. $binary_remote_addr is the realip result: trusted_proxies apply. */
function keyVariable(key: LimitKey): string {
  return key.kind === 'client_ip' ? '$binary_remote_addr' : `$http_${key.name.replace(/-/g, '_')}`;
}

/**
 * The most a 429 from this limit tells a client to wait: one request's time at the rate, rounded
 * up. Our proxy works out the exact wait (never more than this); nginx has no variable for it.
 */
export function longestRetryAfter(limit: RequestLimitConfig): number {
  return Math.max(1, Math.ceil(1000 / limit.milliRate));
}

/** http level: the zones, and the Retry-After values the limited locations send with a 429. */
export function renderLimitZones(config: Config): string[] {
  const limited = limitedRoutes(config);
  if (limited.length === 0) return [];
  const waits = [...new Set(limited.map(({ limit }) => longestRetryAfter(limit)))].sort((a, b) => a - b);
  return [
    '# Request rate limits (limits.requests): one zone per route, nginx limit_req semantics.',
    ...limited.map(
      ({ name, limit }) =>
        `limit_req_zone ${keyVariable(limit.key)} zone=${zoneName(name)}:${ZONE_SIZE} rate=${limit.rate};`,
    ),
    '# Retry-After on a 429 only (add_header leaves out a header whose value is empty).',
    ...waits.flatMap((wait) => [
      `map $status $gatehouse_retry_after_${wait} {`,
      ...indent([`429 ${wait};`, 'default "";']),
      '}',
    ]),
    '',
  ];
}

/**
 * A proxying location's limit_req lines (none when the route is not limited). nginx answers 503
 * by default; 429 as our proxy does. add_header here replaces the server's, so the server's own
 * add_header lines (`serverHeaders`: the request id, HSTS on TLS) are said again.
 */
export function renderLimitReq(
  config: Config,
  route: string,
  own: LimitsConfig | undefined,
  serverHeaders: readonly string[],
): string[] {
  const limit = limitOf(config, own);
  if (!limit) return [];
  // nginx refuses burst=0: it is the default.
  const burst = limit.burst > 0 ? ` burst=${limit.burst}` : '';
  return [
    `# Request rate limit: ${limit.rate}, burst ${limit.burst}${limit.nodelay ? ', nodelay' : ', the burst delayed to the rate'}.`,
    `limit_req zone=${zoneName(route)}${burst}${limit.nodelay ? ' nodelay' : ''};`,
    'limit_req_status 429;',
    'limit_req_log_level warn;',
    `add_header Retry-After $gatehouse_retry_after_${longestRetryAfter(limit)} always;`,
    ...serverHeaders,
    '',
  ];
}
