/**
 * Whether a page's Content-Security-Policy lets it load the reload script from the status
 * listener and open its event stream there. The script is never inline: a page whose policy says
 * `script-src 'self'` forbids inline scripts, and the status listener is another origin (another
 * port), so the question is only whether that origin is allowed. When in doubt the answer is no:
 * the page is then served as the worker wrote it, and the proxy says so in its log.
 *
 * Enough of CSP Level 3 for that one question: directive fallback (script-src-elem → script-src →
 * default-src; connect-src → default-src), several policies (all must allow), `*`, scheme sources,
 * host sources with wildcards, ports and paths, and 'strict-dynamic' (which makes host sources
 * ignored). Nonces and hashes are not borrowed: a page that trusts only them does not get our script.
 */

/** Why a policy refuses, for the log line; null when the script and its stream are allowed. */
export function cspRefusal(policies: readonly string[], script: URL, events: URL): string | null {
  for (const header of policies) {
    // One header may carry several policies, comma-separated (RFC 9110 list syntax).
    for (const policy of header.split(',')) {
      const directives = parseDirectives(policy);
      const scriptSources =
        directives.get('script-src-elem') ?? directives.get('script-src') ?? directives.get('default-src');
      if (scriptSources && !allows(scriptSources, script, true)) return 'script-src';
      const connectSources = directives.get('connect-src') ?? directives.get('default-src');
      if (connectSources && !allows(connectSources, events, false)) return 'connect-src';
    }
  }
  return null;
}

function parseDirectives(policy: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of policy.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (!name) continue;
    const key = name.toLowerCase();
    // The first occurrence of a directive wins; later duplicates are ignored (CSP3 §2.2.2).
    if (!directives.has(key)) directives.set(key, sources);
  }
  return directives;
}

function allows(sources: readonly string[], url: URL, script: boolean): boolean {
  const lower = sources.map((s) => s.toLowerCase());
  // With 'strict-dynamic' only nonces and hashes (and what they load) count.
  if (script && lower.includes("'strict-dynamic'")) return false;
  return lower.some((source) => matches(source, url));
}

function matches(source: string, url: URL): boolean {
  if (source.startsWith("'")) return false; // 'self' is the page's origin, not ours; 'none', nonces, hashes
  // `*` matches every network scheme; a scheme source ("http:") matches that scheme.
  if (source === '*') return url.protocol === 'http:' || url.protocol === 'https:';
  if (/^[a-z][a-z0-9+.-]*:$/.test(source)) return source === url.protocol;
  const host =
    /^(?:([a-z][a-z0-9+.-]*):\/\/)?(\*|(?:\*\.)?[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\*|\d+))?(\/.*)?$/.exec(
      source,
    );
  if (!host) return false;
  const [, scheme, name = '', port, path] = host;
  if (scheme && `${scheme}:` !== url.protocol) return false;
  const hostname = url.hostname.toLowerCase();
  if (name !== '*') {
    if (name.startsWith('*.')) {
      if (!hostname.endsWith(name.slice(1))) return false;
    } else if (name !== hostname) return false;
  }
  const urlPort = url.port || (url.protocol === 'https:' ? '443' : '80');
  const sourcePort = port ?? (scheme === 'https' ? '443' : '80');
  if (sourcePort !== '*' && sourcePort !== urlPort) return false;
  if (path && path !== '/') {
    return path.endsWith('/') ? url.pathname.startsWith(path) : url.pathname === path;
  }
  return true;
}
