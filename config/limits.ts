import type { ConfigProblem } from './errors.js';
import { isConfigObject } from './merge.js';
import type { LimitKey, LimitsConfig, RequestLimitConfig } from './types.js';

/** nginx's rate words: a whole number of requests per second or per minute. */
const RATE = /^([1-9][0-9]{0,8})r\/([sm])$/;
const HEADER_KEY = /^header:([A-Za-z0-9!#$%&'*+.^_`|~-]+)$/;

/** A `limits:` section (top level, or a route's, at `at`), resolved; every bad value is a problem at its key. */
export function resolveLimits(raw: unknown, at: string, problems: ConfigProblem[]): LimitsConfig {
  if (!isConfigObject(raw) || !isConfigObject(raw.requests)) return { requests: null };
  return { requests: resolveRequests(raw.requests, `${at}.requests`, problems) };
}

function resolveRequests(
  raw: Record<string, unknown>,
  at: string,
  problems: ConfigProblem[],
): RequestLimitConfig {
  const rate = String(raw.rate);
  const perSecond = parseRate(rate);
  if (perSecond === null)
    problems.push({
      path: `${at}.rate`,
      message: `expected requests per second or minute such as "10r/s" or "30r/m" (a whole number over 0, no spaces), got ${JSON.stringify(raw.rate)}`,
    });
  const key = parseLimitKey(raw.key ?? 'client_ip');
  if (key === null)
    problems.push({
      path: `${at}.key`,
      message: `expected client_ip or header:NAME (such as header:X-Api-Key), got ${JSON.stringify(raw.key)}`,
    });
  return {
    rate,
    milliRate: perSecond ?? 1000,
    burst: typeof raw.burst === 'number' ? raw.burst : 0,
    nodelay: raw.nodelay === true,
    key: key ?? { kind: 'client_ip' },
  };
}

/**
 * Milli-requests per second, as nginx's limit_req_zone computes them (rate * 1000 / 60 for r/m,
 * truncated: 1r/m is 16), or null when the value is not a rate.
 */
export function parseRate(value: string): number | null {
  const m = RATE.exec(value);
  if (!m) return null;
  return Math.floor((Number(m[1]) * 1000) / (m[2] === 'm' ? 60 : 1));
}

function parseLimitKey(value: unknown): LimitKey | null {
  if (value === 'client_ip') return { kind: 'client_ip' };
  const m = typeof value === 'string' ? HEADER_KEY.exec(value) : null;
  return m ? { kind: 'header', name: m[1]!.toLowerCase() } : null;
}
