import { type FSWatcher, watch } from 'node:fs';
import { basename } from 'node:path';
import type { AcmeConfig, TlsCertificateConfig } from '../../../config/index.js';
import type { Logger } from '../../../process/logger.js';
import { type BackoffOptions, backoffDelay } from '../../sources/backoff.js';
import { ChallengeAnswers } from './challenges.js';
import { probeDirectory } from './directory-probe.js';
import { takeOrderLock } from './lock.js';
import { orderCertificate } from './order.js';
import { inspectStored, type UsableCertificate } from './renewal.js';
import { acmeCertificateFiles, ensureStorage, readStoredCertificate, storeCertificate } from './storage.js';

export interface AcmeManagerOptions {
  logger: Logger;
  /** Told each certificate to serve: the stored one at start, then each renewal (ordered here or by another process). */
  onCertificate(pair: TlsCertificateConfig): void;
  /** The clock renewal is judged by (epoch ms); a test moves it forward. */
  now?: () => number;
  /** How often the stored certificate is looked at, in ms (default 12 h). */
  checkInterval?: number;
  /** How soon a process that found another ordering looks again, in ms (default 10 s). */
  lockWait?: number;
  /** Retries after a failed order (default 30 s doubling to 1 h). */
  backoff?: BackoffOptions;
}

/** setTimeout's limit: a longer delay fires at once. */
const MAX_DELAY = 2 ** 31 - 1;
/** File events come in bursts (temp file, rename, key then certificate): read once they settle. */
const WATCH_SETTLE = 100;

/**
 * Keeps the certificate of `tls.acme` fresh: at start it serves the stored one, or orders one when
 * it is missing, unusable or due (two-thirds of its lifetime); it looks again every checkInterval.
 * Of several processes on one storage folder only the lock holder orders; the others see the files
 * change and hand them over too. A failure is logged and retried with backoff, never thrown.
 */
export class AcmeManager {
  readonly #config: AcmeConfig;
  readonly #options: Required<Omit<AcmeManagerOptions, 'logger' | 'onCertificate'>>;
  readonly #logger: Logger;
  readonly #onCertificate: (pair: TlsCertificateConfig) => void;
  readonly #answers: ChallengeAnswers;
  #timer: NodeJS.Timeout | null = null;
  #settle: NodeJS.Timeout | null = null;
  #watcher: FSWatcher | null = null;
  #running: Promise<void> | null = null;
  #delivered: string | null = null;
  #failures = 0;
  #stopped = false;

  constructor(config: AcmeConfig, options: AcmeManagerOptions) {
    this.#config = config;
    this.#logger = options.logger;
    this.#onCertificate = options.onCertificate;
    this.#options = {
      now: options.now ?? Date.now,
      checkInterval: options.checkInterval ?? 12 * 3600_000,
      lockWait: options.lockWait ?? 10_000,
      backoff: options.backoff ?? { initial: 30_000, max: 3600_000 },
    };
    this.#answers = new ChallengeAnswers(config.storage);
  }

  /** The HTTP-01 answer for `GET /.well-known/acme-challenge/<token>`, or undefined (404). */
  challengeAnswer(token: string): string | undefined {
    return this.#answers.answer(token);
  }

  /**
   * Makes the storage folder, hands over the stored certificate or orders one, then keeps
   * checking. Resolves after the first check, whether it succeeded or was scheduled for a retry:
   * the proxy starts serving either way (with no certificate yet, the TLS listener has none).
   */
  async start(): Promise<void> {
    this.#stopped = false;
    try {
      await ensureStorage(this.#config.storage);
      this.#watchStorage();
    } catch (error) {
      this.#logger.error({ storage: this.#config.storage, err: error }, 'acme: storage folder unusable');
    }
    await this.#run();
  }

  /** Stops checking and watching; waits for a check under way (an order finishes, its lock is released). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#settle) clearTimeout(this.#settle);
    this.#watcher?.close();
    this.#timer = this.#settle = this.#watcher = null;
    await this.#running;
  }

  #run(): Promise<void> {
    if (!this.#running)
      this.#running = this.#check().finally(() => {
        this.#running = null;
      });
    return this.#running;
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#run(), Math.max(0, Math.min(delay, MAX_DELAY)));
    // Renewal must never be what keeps a process alive.
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    const { storage, domains, directory } = this.#config;
    try {
      const current = await this.#current();
      if (current && this.#options.now() < current.renewAt) {
        this.#failures = 0;
        this.#schedule(Math.min(this.#options.checkInterval, current.renewAt - this.#options.now()));
        return;
      }
      const lock = await takeOrderLock(storage);
      if ('heldBy' in lock) {
        this.#logger.info(
          { storage, pid: lock.heldBy },
          'acme: another process is ordering; waiting for its files',
        );
        this.#schedule(this.#options.lockWait);
        return;
      }
      try {
        // Another process may have stored a fresh one between our look and our lock.
        const again = await this.#current();
        if (!again || this.#options.now() >= again.renewAt) {
          this.#logger.info({ domains, directory, renewing: again !== null }, 'acme: ordering a certificate');
          await storeCertificate(storage, await orderCertificate(this.#config, this.#answers));
          const ordered = await this.#current();
          if (!ordered) throw new Error('the certificate ordered cannot be served (see the warning above)');
          this.#logger.info(
            { domains, notAfter: new Date(ordered.notAfter).toISOString() },
            'acme: certificate obtained',
          );
        }
      } finally {
        await lock.release();
      }
      this.#failures = 0;
      this.#schedule(this.#options.checkInterval);
    } catch (error) {
      const retryIn = backoffDelay(this.#failures++, this.#options.backoff);
      const reason =
        error instanceof TypeError
          ? ((await probeDirectory(directory)) ?? error.message)
          : String((error as Error).message ?? error);
      this.#logger.error(
        { domains, directory, reason, retryIn, attempt: this.#failures },
        'acme: could not obtain a certificate; retrying',
      );
      this.#schedule(retryIn);
    }
  }

  /** The stored certificate when it can be served (handed over if new), else null. */
  async #current(): Promise<UsableCertificate | null> {
    const stored = await readStoredCertificate(this.#config.storage);
    if (stored === null) return null;
    const usable = inspectStored(stored, this.#config.domains);
    if ('unusable' in usable) {
      this.#logger.warn(
        { storage: this.#config.storage, reason: usable.unusable },
        'acme: stored certificate not used',
      );
      return null;
    }
    if (usable.fingerprint !== this.#delivered && !this.#stopped) {
      this.#delivered = usable.fingerprint;
      this.#onCertificate(acmeCertificateFiles(this.#config.storage));
    }
    return usable;
  }

  /** Files renamed into storage by another process: hand them over without waiting for a check. */
  #watchStorage(): void {
    const files = acmeCertificateFiles(this.#config.storage);
    const names = new Set([basename(files.cert), basename(files.key)]);
    try {
      this.#watcher = watch(this.#config.storage, (_event, name) => {
        if (name === null || !names.has(name) || this.#stopped) return;
        if (this.#settle) clearTimeout(this.#settle);
        this.#settle = setTimeout(() => {
          this.#settle = null;
          this.#current().catch(() => undefined);
        }, WATCH_SETTLE);
      });
      this.#watcher.on('error', () => this.#watcher?.close());
    } catch {
      // No file events here (some network file systems): the periodic check still picks them up.
    }
  }
}
