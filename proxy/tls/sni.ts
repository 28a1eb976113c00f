import type { SecureContext } from 'node:tls';
import type { LoadedCertificate } from './certificates.js';

/**
 * Which of several named entries a server name gets, as nginx picks a server_name: an exact name
 * first, then a wildcard (`*.example.com` covers one label, as in certificates), else the first
 * entry (the default, also for clients that send no SNI). A name listed twice goes to the earlier
 * entry. The TLS listener picks certificates with it; the nginx renderer picks the certificate of
 * each route host's server block with it, so both fronts serve the same one.
 */
export class NameTable<T extends { readonly names: readonly string[] }> {
  private readonly byName = new Map<string, T>();

  constructor(readonly entries: readonly T[]) {
    if (entries.length === 0) throw new Error('a certificate table needs at least one certificate');
    for (const entry of entries) {
      for (const name of entry.names) if (!this.byName.has(name)) this.byName.set(name, entry);
    }
  }

  get default(): T {
    return this.entries[0]!;
  }

  /** The entry for an SNI server name (any case, a trailing dot allowed). */
  pick(servername: string | null | undefined): T {
    if (!servername) return this.default;
    const name = servername.toLowerCase().replace(/\.$/, '');
    const exact = this.byName.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    const wildcard = dot > 0 ? this.byName.get(`*${name.slice(dot)}`) : undefined;
    return wildcard ?? this.default;
  }
}

/**
 * The certificates a handshake chooses from. Built whole and replaced whole: a swap is one
 * assignment, so a handshake sees either table.
 */
export class CertificateTable extends NameTable<LoadedCertificate> {
  get certificates(): readonly LoadedCertificate[] {
    return this.entries;
  }

  contextFor(servername: string | undefined): SecureContext {
    return this.pick(servername).context;
  }
}
