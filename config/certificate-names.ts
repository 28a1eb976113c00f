import { X509Certificate } from 'node:crypto';

/**
 * The server names a certificate covers, as a TLS client checks them, lower case: its DNS and IP
 * subject alternative names, else (none) its subject CN. A PEM may be a whole chain: the first
 * certificate is the server's. The one reader of names: the proxy's SNI and `gatehouse check`
 * (proxy/tls/certificates.ts), the nginx renderer (server_name) and ACME's renewal check.
 */
export function certificateNames(certificate: string | Buffer | X509Certificate): string[] {
  const leaf = certificate instanceof X509Certificate ? certificate : new X509Certificate(certificate);
  const names: string[] = [];
  // "DNS:a.example, IP Address:127.0.0.1, ..." (values with commas are quoted: none of ours).
  for (const entry of (leaf.subjectAltName ?? '').split(/,\s*/)) {
    const dns = /^DNS:(.+)$/.exec(entry);
    const ip = /^IP Address:(.+)$/.exec(entry);
    if (dns) names.push(dns[1]!.toLowerCase());
    else if (ip) names.push(normaliseIp(ip[1]!));
  }
  if (names.length > 0) return names;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(leaf.subject)?.[1];
  return cn ? [cn.toLowerCase()] : [];
}

/** OpenSSL writes ::1 as 0:0:0:0:0:0:0:1; the short form is what people read and write. */
function normaliseIp(text: string): string {
  if (!text.includes(':')) return text;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return text.toLowerCase();
  }
}
