import { isDeepStrictEqual } from 'node:util';
import type { TlsConfig } from '../../config/index.js';

/**
 * The tls keys a reload (SIGHUP) cannot apply: the TLS listener (its address, its ALPN list) and
 * the ACME manager are built once, when the proxy starts. Everything else under tls is read again
 * (certificates, min_version) or read per request (redirect_http, hsts).
 */
const RESTART_ONLY = ['listen', 'http2', 'acme'] as const;

/** The keys, as a user writes them, whose change between two configs waits for a restart. */
export function tlsChangesNeedingRestart(before: TlsConfig | null, after: TlsConfig | null): string[] {
  if (!before || !after) return before === after ? [] : ['tls'];
  return RESTART_ONLY.filter((key) => !isDeepStrictEqual(before[key], after[key])).map((key) => `tls.${key}`);
}

/** The warning a reload logs for such a key, naming it. */
export function restartWarning(key: string): string {
  return `${key}: changed at reload; restart the proxy to apply it`;
}
