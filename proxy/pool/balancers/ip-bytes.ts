/**
 * Writes the bytes nginx's ip_hash hashes for `ip` into `out` (16 bytes long) and returns how
 * many: the first three octets of an IPv4 address (so a /24 sticks together), all sixteen of an
 * IPv6 one. IPv4-mapped IPv6 ("::ffff:10.0.0.1", what a dual-stack socket reports) counts as
 * IPv4. Anything unparsable hashes as nginx's pseudo address 0.0.0. Parses by hand so a pick
 * allocates nothing.
 */
export function ipHashBytes(ip: string, out: Uint8Array): number {
  if (parseIpv4(ip, 0, ip.length, out, 0)) return 3;
  if (parseIpv6(ip, out)) {
    if (isV4Mapped(out)) {
      out[0] = out[12]!;
      out[1] = out[13]!;
      out[2] = out[14]!;
      return 3;
    }
    return 16;
  }
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;
  return 3;
}

/** Parses dotted-quad `text[start, end)` into out[at .. at+4). */
function parseIpv4(text: string, start: number, end: number, out: Uint8Array, at: number): boolean {
  let octets = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const code = i < end ? text.charCodeAt(i) : 46; /* '.' closes the last octet */
    if (code >= 48 && code <= 57) {
      value = value * 10 + (code - 48);
      digits++;
      if (digits > 3 || value > 255) return false;
    } else if (code === 46) {
      if (digits === 0 || octets === 4) return false;
      out[at + octets++] = value;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return octets === 4;
}

const groups = new Uint16Array(8);

function parseIpv6(text: string, out: Uint8Array): boolean {
  let end = text.indexOf('%'); // a zone id ("fe80::1%eth0") is not part of the address
  if (end < 0) end = text.length;
  let count = 0;
  let gap = -1;
  let i = 0;
  if (end >= 2 && text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  }
  while (i < end) {
    const start = i;
    let value = 0;
    let digits = 0;
    for (; i < end; i++) {
      const hex = hexValue(text.charCodeAt(i));
      if (hex < 0) break;
      value = value * 16 + hex;
      digits++;
    }
    if (i < end && text.charCodeAt(i) === 46) {
      // Embedded IPv4 in the last 32 bits.
      if (count > 6 || !parseIpv4(text, start, end, out, 0)) return false;
      groups[count++] = (out[0]! << 8) | out[1]!;
      groups[count++] = (out[2]! << 8) | out[3]!;
      break;
    }
    if (digits === 0 || digits > 4 || count === 8) return false;
    groups[count++] = value;
    if (i === end) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && text.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i === end) {
      return false;
    }
  }
  if (gap < 0 ? count !== 8 : count > 7) return false;
  const shift = 8 - count;
  for (let g = 7; g >= 0; g--) {
    let word = 0;
    if (gap < 0 || g < gap) word = groups[g]!;
    else if (g >= gap + shift) word = groups[g - shift]!;
    out[g * 2] = word >> 8;
    out[g * 2 + 1] = word & 0xff;
  }
  return true;
}

function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  return -1;
}
