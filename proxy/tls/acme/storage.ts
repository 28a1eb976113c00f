import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TlsCertificateConfig } from '../../../config/index.js';

// What AcmeManager keeps under `tls.acme.storage`. The folder is 0700 and every file 0600: the keys
// are secrets. A file is written beside its final name and renamed over it, so a reader (another
// proxy process, nginx on reload) sees the old file or the new one, never half of one.

/** The account key: made once, reused for every order (the ACME account is bound to it). */
export function accountKeyFile(storage: string): string {
  return join(storage, 'account.key');
}

/**
 * The certificate (full chain) and its key, as a `tls.certificates` pair: the proxy and a real
 * nginx (ssl_certificate, ssl_certificate_key) both read them from here.
 */
export function acmeCertificateFiles(storage: string): TlsCertificateConfig {
  return { cert: join(storage, 'certificate.pem'), key: join(storage, 'certificate.key') };
}

/** The lock the ordering process holds (lock.ts). */
export function lockFile(storage: string): string {
  return join(storage, 'order.lock');
}

export async function ensureStorage(storage: string): Promise<void> {
  await mkdir(storage, { recursive: true, mode: 0o700 });
}

/** Writes `data` to `path` (mode 0600) through a temp file renamed over it. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temp, data, { mode: 0o600, flag: 'wx' });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** A file's text, or null when it is not there. */
export async function readIfPresent(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

export interface StoredCertificate {
  cert: string;
  key: string;
}

/** The stored pair, or null when either file is missing. */
export async function readStoredCertificate(storage: string): Promise<StoredCertificate | null> {
  const files = acmeCertificateFiles(storage);
  const [cert, key] = await Promise.all([readIfPresent(files.cert), readIfPresent(files.key)]);
  return cert === null || key === null ? null : { cert, key };
}

/**
 * Stores a new pair. The key goes first: a reader that sees the new certificate finds its key
 * already there; one that reads in between sees a key not matching its certificate and waits for
 * the certificate (manager.ts checks the pair before using it).
 */
export async function storeCertificate(storage: string, pair: StoredCertificate): Promise<void> {
  const files = acmeCertificateFiles(storage);
  await writeFileAtomic(files.key, pair.key);
  await writeFileAtomic(files.cert, pair.cert);
}
