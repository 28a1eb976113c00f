/**
 * The request target, as a front must read it before it can route (RFC 9112 §3.2): origin form
 * (`/x?y`), or absolute form (`http://a.example/x`), whose authority replaces the Host header and
 * which goes on in origin form. Pure: strings in, strings out.
 */
export interface RequestTarget {
  /** The host routed by: lower case, no port, no trailing dot ("" when none was sent). */
  host: string;
  /** The path as sent (still percent-encoded), always starting with "/". */
  path: string;
  /** "?…" or "". */
  query: string;
  /** Absolute form: the authority ("a.example:8080") that becomes the Host header. */
  authority: string | null;
}

const ABSOLUTE = /^https?:\/\//i;

/** Parses a request target and Host header; null for a target no front may route (→ 400). */
export function parseRequestTarget(url: string, hostHeader: string | undefined): RequestTarget | null {
  let authority: string | null = null;
  let rest = url;
  if (ABSOLUTE.test(url)) {
    const start = url.indexOf('//') + 2;
    let end = url.length;
    for (const stop of ['/', '?', '#']) {
      const at = url.indexOf(stop, start);
      if (at >= 0 && at < end) end = at;
    }
    authority = url.slice(start, end);
    // userinfo in an http(s) target is forbidden (RFC 9110 §4.2.4); an empty host has nothing to route.
    if (authority === '' || authority.includes('@')) return null;
    rest = url.slice(end);
    if (!rest.startsWith('/')) rest = `/${rest}`;
  } else if (!url.startsWith('/')) {
    return null;
  }
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const path = q >= 0 ? rest.slice(0, q) : rest;
  const query = q >= 0 ? rest.slice(q) : '';
  const host = hostName(authority ?? hostHeader ?? '');
  if (host === null) return null;
  return { host, path, query, authority };
}

/** "A.Example.:8080" → "a.example"; "[::1]:80" → "[::1]"; null when it cannot be a host. */
export function hostName(value: string): string | null {
  let host = value.trim().toLowerCase();
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    // Only hex digits, colons and dots make an IPv6 literal; anything else trips undici's URL
    // assertions upstream (a 502 for the client's mistake) and is refused here instead.
    if (close < 0 || !/^\[[0-9a-f:.]+$/.test(host.slice(0, close))) return null;
    const after = host.slice(close + 1);
    if (after !== '' && !/^:\d*$/.test(after)) return null;
    return host.slice(0, close + 1);
  }
  const colon = host.indexOf(':');
  if (colon >= 0) {
    if (!/^\d*$/.test(host.slice(colon + 1))) return null;
    host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (/[\s/\\?#@]/.test(host)) return null;
  return host;
}

/** What keeps a path from being normal as it is: an escape, NUL, non-ASCII, `/.` or `//`. */
const NOT_PLAIN = /[%\0\u0080-\uffff]|\/\.|\/\//;

/**
 * The path a route is chosen by, as nginx normalises it before it looks for a location:
 * percent-decoded, `.` and `..` segments resolved, repeated slashes merged. Bytes are kept as
 * latin1 characters, so a decoded UTF-8 name compares byte for byte. null for a path that climbs
 * above the root, a bad %-escape or a NUL (nginx answers those 400).
 */
export function normalizePath(path: string): string | null {
  // Nearly every path is already normal (ASCII from the root, no escape, dot segment or "//"):
  // then it is its own answer, without the byte copies below (0.5 µs a request).
  if (path.charCodeAt(0) === 0x2f && !NOT_PLAIN.test(path)) return path;
  return normalizeAnyPath(path);
}

/** normalizePath without its shortcut: every path decoded and split (exported for its test). */
export function normalizeAnyPath(path: string): string | null {
  let decoded: string;
  try {
    decoded = percentDecode(path);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const out: string[] = [];
  const segments = decoded.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '..') {
      if (out.length === 0) return null;
      out.pop();
      if (last) out.push('');
    } else if (segment === '.') {
      if (last) out.push('');
    } else if (segment === '' && !last) {
      // merge_slashes: "//" is "/".
    } else {
      out.push(segment);
    }
  }
  return `/${out.join('/')}`;
}

function percentDecode(path: string): string {
  if (!path.includes('%')) return Buffer.from(path, 'utf8').toString('latin1');
  const bytes: number[] = [];
  const raw = Buffer.from(path, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (byte !== 0x25) {
      bytes.push(byte);
      continue;
    }
    const hex = raw.subarray(i + 1, i + 3).toString('latin1');
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new URIError(`bad escape at ${i}`);
    bytes.push(Number.parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes).toString('latin1');
}

/** A route's configured path in the same latin1-bytes form as normalizePath's. */
export function routePathKey(path: string): string {
  return Buffer.from(path, 'utf8').toString('latin1');
}

/** A normalised (latin1-bytes) path encoded again for the wire: what is not plainly safe is %XX. */
export function encodePath(path: string): string {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    const char = path[i]!;
    out +=
      code > 0x20 && code < 0x7f && !'%?#"<>\\^`{|}'.includes(char)
        ? char
        : `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
