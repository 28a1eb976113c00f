import type { SecureContext } from 'node:tls';
import type { LoadedCertificate } from './certificates.js';

/**
 * Which certificate a handshake gets, as nginx picks a server_name: an exact name first, then a
 * wildcard (`*.example.com` covers one label, as in certificates), else the first pair (the
 * default, also for clients that send no SNI). A name listed by two pairs goes to the earlier one.
 * Built whole and replaced whole: a swap is one assignment, so a handshake sees either table.
 */
export class CertificateTable {
  private readonly byName = new Map<string, LoadedCertificate>();

  constructor(readonly certificates: readonly LoadedCertificate[]) {
    if (certificates.length === 0) throw new Error('a certificate table needs at least one certificate');
    for (const certificate of certificates) {
      for (const name of certificate.names) if (!this.byName.has(name)) this.byName.set(name, certificate);
    }
  }

  get default(): LoadedCertificate {
    return this.certificates[0]!;
  }

  /** The certificate for an SNI server name (any case, a trailing dot allowed). */
  pick(servername: string | undefined): LoadedCertificate {
    if (!servername) return this.default;
    const name = servername.toLowerCase().replace(/\.$/, '');
    const exact = this.byName.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    const wildcard = dot > 0 ? this.byName.get(`*${name.slice(dot)}`) : undefined;
    return wildcard ?? this.default;
  }

  contextFor(servername: string | undefined): SecureContext {
    return this.pick(servername).context;
  }
}
