import { X509Certificate } from 'node:crypto';

/**
 * The server names a PEM certificate covers, as a TLS client checks them: its subjectAltName DNS
 * entries, else (no DNS entry) its subject CN. `pem` may be a whole chain: the first certificate
 * is the server's. Shared by the nginx renderer (server_name), the proxy's SNI and `gatehouse check`.
 */
export function certificateNames(pem: string | Buffer): string[] {
  const certificate = new X509Certificate(pem);
  const dns = (certificate.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice('DNS:'.length));
  if (dns.length > 0) return dns;
  const cn = certificate.subject.split('\n').find((line) => line.startsWith('CN='));
  return cn ? [cn.slice('CN='.length)] : [];
}
