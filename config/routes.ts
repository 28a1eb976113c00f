import { resolve } from 'node:path';
import type { ConfigProblem } from './errors.js';
import { resolveLimits } from './limits.js';
import { isConfigObject, mergeConfigDocs } from './merge.js';
import { projectRoot } from './paths.js';
import { checkStaticRoot } from './static-root.js';
import type { RouteConfig, RouteTarget, UpstreamConfig, WorkersConfig } from './types.js';
import { parseDuration } from './units.js';
import { resolveUpstream, resolveWorkers } from './upstream.js';

type Raw = Record<string, unknown>;

/** Where a pool's servers come from: the keys a route's `upstream` may not inherit. */
const SERVER_KEYS = ['servers', 'resolve', 'docker'];

/**
 * The `routes` list, resolved. A route's `upstream` and `workers` lie over the top-level sections
 * (balancing, health, keep-alive, timeouts of workers...), but never inherit where the servers
 * are: a route that names no servers runs its own workers (`workers.port` of its own). Then the
 * checks a schema cannot make: one target at most, unique names, no two routes for the same host
 * and path (the second could never answer), no two pools on the same worker ports.
 */
export function resolveRoutes(
  raw: Raw,
  top: { workers: WorkersConfig; upstream: UpstreamConfig },
  problems: ConfigProblem[],
): RouteConfig[] {
  const list = raw.routes;
  if (!Array.isArray(list)) return [];
  const topUpstream = isConfigObject(raw.upstream) ? raw.upstream : {};
  const settings = Object.fromEntries(Object.entries(topUpstream).filter(([k]) => !SERVER_KEYS.includes(k)));
  const routes = list.map((item: unknown, i) =>
    resolveRoute(isConfigObject(item) ? item : {}, `routes.${i}`, { ...top, settings, raw }, problems),
  );
  checkOverlaps(routes, problems);
  checkNames(routes, problems);
  checkWorkerPorts(routes, top.workers, problems);
  return routes;
}

interface Inherited {
  /** The top-level upstream's keys but where its servers come from. */
  settings: Raw;
  raw: Raw;
  workers: WorkersConfig;
  upstream: UpstreamConfig;
}

function resolveRoute(item: Raw, at: string, top: Inherited, problems: ConfigProblem[]): RouteConfig {
  const rawHost = typeof item.host === 'string' ? item.host.toLowerCase() : '*';
  const host = rawHost === '*' ? null : rawHost;
  const path = typeof item.path === 'string' ? item.path : '/';
  const stripPrefix = item.strip_prefix === true;
  const given = ['upstream', 'static', 'redirect'].filter((key) => item[key] !== undefined);
  if (given.length > 1)
    problems.push({
      path: at,
      message: `give one of upstream, static or redirect, not ${given.join(' and ')}`,
    });
  if (item.workers !== undefined && (item.static !== undefined || item.redirect !== undefined))
    problems.push({
      path: `${at}.workers`,
      message: 'workers serve an upstream, not a static or redirect route',
    });
  // nginx `location /api/ { proxy_pass http://pool/; }`: the prefix, up to its slash, becomes "/".
  if (stripPrefix && !path.endsWith('/'))
    problems.push({
      path: `${at}.strip_prefix`,
      message: `needs a path ending in "/", got ${JSON.stringify(path)}`,
    });
  return {
    name: typeof item.name === 'string' ? item.name : `${host ?? '*'}${path}`,
    host,
    path,
    stripPrefix,
    target: resolveTarget(item, at, top, problems),
    ...(item.limits === undefined ? {} : { limits: resolveLimits(item.limits, `${at}.limits`, problems) }),
  };
}

function resolveTarget(item: Raw, at: string, top: Inherited, problems: ConfigProblem[]): RouteTarget {
  if (isConfigObject(item.static)) {
    const { root, expires, immutable } = item.static;
    const folder = resolve(projectRoot(), String(root));
    checkStaticRoot(folder, `${at}.static.root`, problems);
    return {
      kind: 'static',
      root: folder,
      expires: expires === 'off' || expires === undefined ? null : (parseDuration(expires) ?? 0),
      immutable: immutable === true,
    };
  }
  if (isConfigObject(item.redirect)) {
    return {
      kind: 'redirect',
      to: String(item.redirect.to),
      status: (item.redirect.status as 301 | 302 | 303 | 307 | 308 | undefined) ?? 301,
    };
  }
  if (item.upstream === undefined && item.workers === undefined) {
    // No target of its own: the top-level pool, as a route.
    return {
      kind: 'pool',
      pool: 'default',
      upstream: top.upstream,
      workers: top.workers,
      localWorkers: false,
    };
  }
  const workers = resolveWorkers(mergeConfigDocs(top.raw.workers, item.workers ?? {}));
  const upstream = resolveUpstream(
    mergeConfigDocs(top.settings, item.upstream ?? {}),
    workers,
    { upstream: `${at}.upstream`, workers: `${at}.workers` },
    problems,
  );
  const localWorkers = upstream.serversFromWorkers;
  if (localWorkers && item.workers === undefined)
    problems.push({
      path: `${at}.upstream`,
      message:
        'give servers, resolve or docker, or a workers section (with its own port) for the route to start',
    });
  return { kind: 'pool', pool: 'own', upstream, workers, localWorkers };
}

/** Two routes for the same host and path: nginx refuses the duplicate location; the second is unreachable. */
function checkOverlaps(routes: readonly RouteConfig[], problems: ConfigProblem[]): void {
  const seen = new Map<string, number>();
  routes.forEach((route, i) => {
    const key = `${route.host ?? '*'} ${route.path}`;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else
      problems.push({
        path: `routes.${i}.path`,
        message: `same host (${route.host ?? 'any'}) and path (${route.path}) as routes.${first}, which takes every request: this route is unreachable`,
      });
  });
}

function checkNames(routes: readonly RouteConfig[], problems: ConfigProblem[]): void {
  const seen = new Map<string, number>();
  routes.forEach((route, i) => {
    const first = seen.get(route.name);
    if (first === undefined) seen.set(route.name, i);
    else problems.push({ path: `routes.${i}.name`, message: `${route.name} names routes.${first} already` });
  });
}

/** Workers a route starts must not listen where the top-level workers or another route's do. */
function checkWorkerPorts(
  routes: readonly RouteConfig[],
  top: WorkersConfig,
  problems: ConfigProblem[],
): void {
  const taken: { at: string; from: number; to: number }[] = [
    { at: 'workers', from: top.port, to: top.port + top.count - 1 },
  ];
  routes.forEach((route, i) => {
    const target = route.target;
    if (target.kind !== 'pool' || !target.localWorkers) return;
    const from = target.workers.port;
    const to = from + target.workers.count - 1;
    const clash = taken.find((t) => from <= t.to && t.from <= to);
    if (clash)
      problems.push({
        path: `routes.${i}.workers.port`,
        message: `ports ${from}-${to} overlap ${clash.at}' ports ${clash.from}-${clash.to}`,
      });
    taken.push({ at: `routes.${i}.workers`, from, to });
  });
}
