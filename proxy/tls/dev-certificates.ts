import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Authority, createAuthority, issueServerCertificate, loadAuthority } from './issue.js';

/** The names a development certificate covers: what a browser or curl on this machine uses. */
export const DEV_NAMES = ['localhost', '127.0.0.1', '::1'] as const;

export interface DevCertificates {
  folder: string;
  /** The local CA's certificate: what a browser, the system store or NODE_EXTRA_CA_CERTS trusts. */
  caCert: string;
  cert: string;
  key: string;
  /** The CA was made now (else an existing one signed the new certificate). */
  newAuthority: boolean;
}

/**
 * mkcert's idea in gatehouse: a local CA (kept, so it is trusted once) and a certificate for
 * localhost, 127.0.0.1 and ::1 it signs, under `folder` (made 0700; keys 0600). Run again, it
 * issues a fresh localhost certificate with the same CA.
 */
export async function createDevCertificates(folder: string): Promise<DevCertificates> {
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const caCert = join(folder, 'ca.pem');
  const caKey = join(folder, 'ca-key.pem');
  let authority: Authority;
  const newAuthority = !(existsSync(caCert) && existsSync(caKey));
  if (newAuthority) {
    authority = await createAuthority('gatehouse development CA');
    writeFileSync(caKey, authority.key, { mode: 0o600 });
    writeFileSync(caCert, authority.cert, { mode: 0o644 });
  } else {
    authority = await loadAuthority(readFileSync(caCert, 'utf8'), readFileSync(caKey, 'utf8'));
  }
  const issued = await issueServerCertificate(authority, DEV_NAMES);
  const cert = join(folder, 'localhost.pem');
  const key = join(folder, 'localhost-key.pem');
  writeFileSync(key, issued.key, { mode: 0o600 });
  writeFileSync(cert, issued.cert, { mode: 0o644 });
  return { folder, caCert, cert, key, newAuthority };
}

/** The config lines to paste, and how to make clients trust the CA. */
export function devCertificateInstructions(dev: DevCertificates): string {
  return `Add to your gatehouse config (gatehouse.yaml):

tls:
  listen: 127.0.0.1:8443
  certificates:
    - { cert: ${dev.cert}, key: ${dev.key} }

Then https://localhost:8443/ answers (HTTP/2 and HTTP/1.1) once clients trust the local CA
${dev.caCert}:
  Node:            NODE_EXTRA_CA_CERTS=${dev.caCert} node app.js
  curl:            curl --cacert ${dev.caCert} https://localhost:8443/
  Debian/Ubuntu:   sudo cp ${dev.caCert} /usr/local/share/ca-certificates/gatehouse-dev-ca.crt && sudo update-ca-certificates
  Firefox:         Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import
  Chrome (Linux):  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n gatehouse-dev -i ${dev.caCert}
  Chrome/Edge (macOS, Windows) use the system store: Keychain Access, or certmgr.msc > Trusted Root.

Keep ${join(dev.folder, 'ca-key.pem')} private (0600): anyone with it can make certificates your
machine trusts. It is for development only; do not commit .gatehouse/.`;
}
