/**
 * Requests Node's parser lets through but no upstream request can carry: undici refuses them
 * (an asterisk-form target; a Host opening an IPv6 literal it never closes, which trips an
 * assertion), which would otherwise surface as an upstream failure, a 502. They are the client's
 * fault: answered 400 before any upstream is picked, as nginx does.
 */
export function malformedRequest(target: string | undefined, host: string | undefined): string | null {
  const url = target ?? '';
  // Origin-form, or absolute-form (how that one is routed is the dispatch's business).
  if (!url.startsWith('/') && !/^https?:\/\//i.test(url)) {
    return `request target ${JSON.stringify(url.slice(0, 64))} is neither origin-form nor absolute-form`;
  }
  if (host?.startsWith('[') && !/^\[[0-9A-Fa-f:.]+\](:[0-9]*)?$/.test(host)) {
    return `Host ${JSON.stringify(host.slice(0, 64))} is not a valid IPv6 literal`;
  }
  return null;
}
