import type { IncomingMessage, ServerResponse } from 'node:http';

/** The HTTP-01 path (RFC 8555 §8.3): answered on the plain listener, never redirected. */
export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/** The ACME module's answer for a token (its key authorization), or undefined when unknown. */
export type ChallengeResponder = (token: string) => string | undefined;

export interface PlainAnswerOptions {
  /** tls.redirect_http: everything else gets 308 to https. */
  redirect: boolean;
  /** The port HTTPS clients use (left out of the Location when 443). */
  httpsPort: number;
  challenge: ChallengeResponder | null;
}

/**
 * What the plain listener answers itself once TLS is on, before the request path: ACME HTTP-01
 * challenges (when a responder is set: the token's key authorization, else 404, as a webroot
 * would), and with redirect_http a 308 to the same host and path over https — but /healthz, which
 * load balancers and orchestrators probe over plain HTTP. Returns whether it answered.
 */
export function answerOnPlain(
  req: IncomingMessage,
  res: ServerResponse,
  options: PlainAnswerOptions,
): boolean {
  const url = req.url ?? '/';
  const path = url.split('?')[0]!;
  if (path.startsWith(ACME_CHALLENGE_PREFIX) && options.challenge) {
    const token = path.slice(ACME_CHALLENGE_PREFIX.length);
    const answer = /^[A-Za-z0-9_-]+$/.test(token) ? options.challenge(token) : undefined;
    const body = answer ?? 'Not Found\n';
    res.writeHead(answer === undefined ? 404 : 200, {
      'Content-Type': 'text/plain',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
  if (!options.redirect || path === '/healthz' || path.startsWith(ACME_CHALLENGE_PREFIX)) return false;
  const host = hostName(req.headers.host);
  if (!host) return false;
  const port = options.httpsPort === 443 ? '' : `:${options.httpsPort}`;
  const location = `https://${host}${port}${url.startsWith('/') ? url : `/${url}`}`;
  res.writeHead(308, { Location: location, 'Content-Type': 'text/plain', 'Content-Length': 0 });
  res.end();
  // The body a client may be sending is not wanted: drained by Node after the answer.
  return true;
}

/** The Host header without its port ("[::1]:8080" → "[::1]"); null when absent or malformed. */
function hostName(host: string | undefined): string | null {
  if (!host) return null;
  const v6 = /^(\[[0-9a-fA-F:.]+\])(?::\d+)?$/.exec(host);
  if (v6) return v6[1]!;
  const m = /^([A-Za-z0-9.-]+)(?::\d+)?$/.exec(host);
  return m ? m[1]! : null;
}
