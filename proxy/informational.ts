import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** Hop-by-hop fields of a 1xx head: never relayed (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/**
 * Relays an informational (1xx) response of the upstream to the client as it comes, before the
 * final one: 103 Early Hints (the browser starts fetching what `Link` preloads while the worker
 * still works) and 102 Processing. HTTP/1.0 clients get none (RFC 9110 §15.2: a 1xx must not go
 * to an HTTP/1.0 client). 100 Continue is the proxy's own business with the client (checkContinue)
 * and 101 is the WebSocket path; other 1xx codes have no use and are dropped.
 *
 * nginx 1.22 relays none of them (Early Hints came in nginx 1.29). Returns whether it was relayed.
 */
export function relayInformational(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  rawHeaders: readonly Buffer[],
): boolean {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor < 1 || res.headersSent || res.destroyed)
    return false;
  if (status === 102) {
    res.writeProcessing();
    return true;
  }
  if (status !== 103) return false;
  const hints: OutgoingHttpHeaders = {};
  const links: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toString('latin1').toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    const value = rawHeaders[i + 1]!.toString('latin1');
    // Node takes links one per array entry: a field listing several (`<a>; rel=preload, <b>; ...`,
    // as Node itself writes them) is split before each `<`.
    if (name === 'link') links.push(...value.split(/,\s*(?=<)/));
    else hints[name] = value;
  }
  // Node writes a 103 only with a Link field (the point of Early Hints) and checks its syntax.
  if (links.length === 0) return false;
  hints.link = links;
  try {
    res.writeEarlyHints(hints as Record<string, string | string[]>);
    return true;
  } catch {
    // A Link value Node's check refuses: the hint is dropped, the final answer still comes.
    return false;
  }
}
