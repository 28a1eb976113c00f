/** Where the CA asks for an HTTP-01 answer (RFC 8555 §8.3). */
export const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/**
 * The token a request target asks the answer for, or null when it is no challenge request. The
 * plain listener answers a token with `200 text/plain` and AcmeManager.challengeAnswer(token), or
 * 404 when that is undefined; it never redirects or forwards these (as it does not /healthz).
 */
export function challengeToken(target: string | undefined): string | null {
  if (!target?.startsWith(CHALLENGE_PREFIX)) return null;
  const token = target.slice(CHALLENGE_PREFIX.length).split('?')[0]!;
  return token === '' || token.includes('/') ? null : token;
}
