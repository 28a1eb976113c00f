import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { TlsCertificateConfig, TlsConfig } from '../../config/index.js';
import type { Logger } from '../../process/logger.js';
import { CertificateError, type LoadedCertificate, readCertificate } from './certificates.js';
import { CertificateTable } from './sni.js';

/** A burst of file events (an editor's save, certbot writing cert then key) settles this long. */
const DEBOUNCE_MS = 250;

/**
 * The TLS listener's certificates, swapped without a restart: on `reload` (SIGHUP), on a change
 * to one of the files (watched), and when ACME hands over a pair (`put`). Every pair is read
 * first, then the whole table is replaced in one assignment (`onSwap`), so a handshake gets
 * either the old set or the new one; connections already open keep the context they shook hands
 * with. A pair that fails to read is logged with its file and reason, and its last good version
 * stays in service.
 */
export class CertificateStore {
  /** The configured pairs (tls.certificates), replaced by a config reload. */
  private pairs: TlsCertificateConfig[];
  /** The pairs ACME handed over: not in the config file, so a config reload keeps them. */
  private handed: TlsCertificateConfig[] = [];
  private loaded = new Map<string, LoadedCertificate>();
  private current: CertificateTable | null = null;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    tls: TlsConfig,
    private readonly logger: Logger,
    private readonly onSwap: (table: CertificateTable) => void,
  ) {
    this.pairs = [...tls.certificates];
    this.minVersion = tls.minVersion;
  }

  private minVersion: TlsConfig['minVersion'];

  /** The table in service; null while no pair could be read yet (ACME not done). */
  get table(): CertificateTable | null {
    return this.current;
  }

  /**
   * Reads every pair (the configured ones, or `pairs` after a config reload) and swaps the table
   * in. Throws the first CertificateError only when no pair at all can be served.
   */
  reload(pairs: readonly TlsCertificateConfig[] = this.pairs, minVersion = this.minVersion): void {
    const versionChanged = minVersion !== this.minVersion;
    this.pairs = [...pairs];
    this.minVersion = minVersion;
    const next = new Map<string, LoadedCertificate>();
    let firstError: CertificateError | null = null;
    for (const pair of this.served()) {
      const id = pairId(pair);
      try {
        next.set(id, readCertificate(pair, minVersion));
      } catch (err) {
        const error = err instanceof CertificateError ? err : new CertificateError(pair.cert, String(err));
        firstError ??= error;
        const kept = versionChanged ? undefined : this.loaded.get(id);
        if (kept) next.set(id, kept);
        this.logger.error(
          { file: error.file, reason: error.reason, kept: kept !== undefined },
          kept ? 'certificate not reloaded; keeping the one in service' : 'certificate not loaded',
        );
      }
    }
    const certificates = this.served().flatMap((pair) => next.get(pairId(pair)) ?? []);
    if (certificates.length === 0) {
      if (firstError && this.served().length > 0 && !this.current) throw firstError;
      return;
    }
    this.loaded = next;
    this.current = new CertificateTable(certificates);
    this.onSwap(this.current);
    if (this.watchers.length > 0) this.watch();
    this.logger.info(
      { certificates: certificates.map((c) => ({ names: c.names, notAfter: c.notAfter.toISOString() })) },
      'certificates loaded',
    );
  }

  /** Adds a pair, or replaces the one with the same cert file (ACME's renewals), and swaps it in. */
  put(pair: TlsCertificateConfig): void {
    const at = this.pairs.findIndex((p) => p.cert === pair.cert);
    if (at >= 0) {
      const pairs = [...this.pairs];
      pairs[at] = pair;
      this.reload(pairs);
      return;
    }
    this.handed = [...this.handed.filter((p) => p.cert !== pair.cert), pair];
    this.reload();
  }

  /** The configured pairs (the first is the default), then ACME's that the config does not name. */
  private served(): TlsCertificateConfig[] {
    const named = new Set(this.pairs.map((p) => p.cert));
    return [...this.pairs, ...this.handed.filter((p) => !named.has(p.cert))];
  }

  /**
   * Watches the folders of the files: a certificate is usually replaced by a rename (certbot,
   * `mv new.pem cert.pem`), which a watch on the file itself would miss.
   */
  watch(): void {
    this.unwatch();
    const byFolder = new Map<string, Set<string>>();
    for (const pair of this.served()) {
      for (const file of [pair.cert, pair.key]) {
        const names = byFolder.get(dirname(file)) ?? new Set<string>();
        names.add(basename(file));
        byFolder.set(dirname(file), names);
      }
    }
    for (const [folder, names] of byFolder) {
      try {
        const watcher = watch(folder, { persistent: false }, (_event, name) => {
          if (name === null || names.has(name.toString())) this.changed();
        });
        watcher.on('error', (err) => this.logger.warn({ folder, err }, 'certificate folder not watched'));
        this.watchers.push(watcher);
      } catch (err) {
        this.logger.warn({ folder, err }, 'certificate folder not watched; SIGHUP reloads it');
      }
    }
  }

  unwatch(): void {
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private changed(): void {
    if (this.timer) this.timer.refresh();
    else
      this.timer = setTimeout(() => {
        this.timer = null;
        this.logger.info('a certificate file changed; reloading');
        this.reload();
      }, DEBOUNCE_MS);
  }
}

function pairId(pair: TlsCertificateConfig): string {
  return `${pair.cert}\0${pair.key}`;
}
