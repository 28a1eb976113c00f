import { type BalanceName, type Config, formatDuration, type UpstreamConfig } from '../config/index.js';
import { indent } from './indent.js';
import type { NginxTarget } from './render.js';

/** Where compose reaches the workers when the config names no DNS name: the service `app`. */
export const COMPOSE_DEFAULT_RESOLVE = { host: 'app', port: 3000 } as const;

// nginx wants the balancing method before `keepalive`; round robin is its default and has no directive.
const BALANCE: Record<BalanceName, string | null> = {
  round_robin: null,
  least_conn: 'least_conn;',
  ip_hash: 'ip_hash;',
  random: 'random two least_conn;',
};

function serverParams(weight: number, maxFails: number, failTimeout: number, backup: boolean): string {
  const params = [`weight=${weight}`, `max_fails=${maxFails}`, `fail_timeout=${formatDuration(failTimeout)}`];
  if (backup) params.push('backup');
  return params.join(' ');
}

function renderServers(upstream: UpstreamConfig, target: NginxTarget, isDefault: boolean): string[] {
  const named =
    target === 'compose' && isDefault ? (upstream.resolve ?? COMPOSE_DEFAULT_RESOLVE) : upstream.resolve;
  if (named) {
    const params = serverParams(1, upstream.maxFails, upstream.failTimeout, false);
    return [
      "# A DNS name: every address it resolves to is a server (compose replicas, from Docker's DNS at",
      '# 127.0.0.11). nginx 1.22 resolves it at start and on reload only, and will not start while it',
      '# does not resolve; a `resolver 127.0.0.11;` line changes neither for upstream servers. After',
      '# `docker compose up --scale app=N`, run `nginx -s reload` in the nginx container.',
      `# (Our proxy re-resolves it every ${formatDuration('interval' in named ? named.interval : 5000)}.)`,
      `server ${named.host}:${named.port} ${params};`,
    ];
  }
  if (upstream.docker) {
    throw new Error(
      'upstream.docker: nginx cannot follow Docker labels; render with upstream.servers or upstream.resolve instead',
    );
  }
  return upstream.servers.map(
    (s) => `server ${s.address} ${serverParams(s.weight, s.maxFails, s.failTimeout, s.backup)};`,
  );
}

/** The upstream block: every server with its weight and passive-health limits, balancing, keep-alive. */
export function renderUpstream(config: Config, target: NginxTarget): string[] {
  return renderUpstreamBlock(config.upstream, 'gatehouse', target, true);
}

/** One pool's upstream block, named `name` (the top-level pool's is "gatehouse", a route's own pool's its own). */
export function renderUpstreamBlock(
  upstream: UpstreamConfig,
  name: string,
  target: NginxTarget,
  isDefault: boolean,
): string[] {
  const balance = BALANCE[upstream.balance];
  const keepalive =
    upstream.keepalive > 0
      ? [
          '# Idle upstream connections kept per nginx worker process, sized to the expected concurrency.',
          `keepalive ${upstream.keepalive};`,
          `keepalive_timeout ${formatDuration(upstream.keepaliveTimeout)};`,
        ]
      : ['# keepalive 0: every request opens a new upstream connection.'];
  return [
    `# The worker pool, balanced ${upstream.balance.replace('_', ' ')}. nginx open source has no active health`,
    '# checks: a server is taken out only after max_fails failed requests within fail_timeout.',
    `upstream ${name} {`,
    ...indent([...renderServers(upstream, target, isDefault), ...(balance ? [balance] : []), ...keepalive]),
    '}',
  ];
}
