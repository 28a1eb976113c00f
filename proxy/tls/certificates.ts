import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { certificateNames } from '../../config/certificate-names.js';
import type { TlsCertificateConfig } from '../../config/index.js';

/** How soon before its end a certificate is reported as expiring (a warning, not an error). */
export const EXPIRY_WARNING_DAYS = 14;
const DAY_MS = 86_400_000;

/** One {cert, key} pair read and checked: what SNI, `gatehouse check` and the status page need. */
export interface LoadedCertificate {
  readonly pair: TlsCertificateConfig;
  /** The names it serves, lower case: the DNS and IP subject alternative names, else the CN. */
  readonly names: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The context a handshake for one of `names` uses. */
  readonly context: SecureContext;
  /** The files' contents, for the listener's default context (server.setSecureContext takes PEM). */
  readonly pem: { readonly cert: string; readonly key: string };
}

/** A pair that cannot be served, with the file at fault and why. */
export class CertificateError extends Error {
  readonly code = 'GH_ERR_CERTIFICATE';
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'CertificateError';
  }
}

/**
 * The leaf certificate of a PEM pair, with its key checked to be the leaf's; else which part is at
 * fault and why. Shared by the pairs the config names and the pair ACME stored.
 */
export function parsePair(
  cert: string,
  key: string,
): { leaf: X509Certificate } | { problem: 'cert' | 'key' | 'mismatch'; reason: string } {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    return { problem: 'cert', reason: `not a PEM certificate (${(err as Error).message})` };
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    return { problem: 'key', reason: `not a PEM private key (${(err as Error).message})` };
  }
  if (!leaf.checkPrivateKey(privateKey))
    return { problem: 'mismatch', reason: 'the key does not match the certificate' };
  return { leaf };
}

/**
 * Reads a pair and checks that it can be served: both files readable and PEM, the key the one of
 * the (first, leaf) certificate. Expiry is not a reason to refuse a pair here (an expired
 * certificate still beats none while a new one is on its way): `certificateProblems` reports it.
 */
export function readCertificate(pair: TlsCertificateConfig, minVersion = 'TLSv1.2'): LoadedCertificate {
  const cert = readPem(pair.cert);
  const key = readPem(pair.key);
  const parsed = parsePair(cert, key);
  if ('problem' in parsed) {
    const { problem, reason } = parsed;
    if (problem === 'mismatch') throw new CertificateError(pair.key, `${reason} ${pair.cert}`);
    throw new CertificateError(problem === 'cert' ? pair.cert : pair.key, reason);
  }
  const { leaf } = parsed;
  let context: SecureContext;
  try {
    context = createSecureContext({ cert, key, minVersion: minVersion as 'TLSv1.2' | 'TLSv1.3' });
  } catch (err) {
    throw new CertificateError(pair.cert, `cannot be used for TLS (${(err as Error).message})`);
  }
  return {
    pair,
    names: certificateNames(leaf),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    context,
    pem: { cert, key },
  };
}

/** Whole days left before `notAfter` (negative once expired). */
export function daysLeft(certificate: Pick<LoadedCertificate, 'notAfter'>, now = Date.now()): number {
  return Math.floor((certificate.notAfter.getTime() - now) / DAY_MS);
}

export interface CertificateReport {
  pair: TlsCertificateConfig;
  names: readonly string[];
  notAfter: Date | null;
  errors: string[];
  warnings: string[];
}

/**
 * What `gatehouse check` says about each pair: unreadable or mismatched files and expired
 * certificates are errors; a certificate ending within EXPIRY_WARNING_DAYS is a warning.
 */
export function certificateReports(
  pairs: readonly TlsCertificateConfig[],
  now = Date.now(),
): CertificateReport[] {
  return pairs.map((pair) => {
    let loaded: LoadedCertificate;
    try {
      loaded = readCertificate(pair);
    } catch (err) {
      const message = err instanceof CertificateError ? err.message : String(err);
      return { pair, names: [], notAfter: null, errors: [message], warnings: [] };
    }
    const report: CertificateReport = {
      pair,
      names: loaded.names,
      notAfter: loaded.notAfter,
      errors: [],
      warnings: [],
    };
    const days = daysLeft(loaded, now);
    if (loaded.notAfter.getTime() <= now)
      report.errors.push(`${pair.cert}: expired on ${loaded.notAfter.toISOString()}`);
    else if (days < EXPIRY_WARNING_DAYS)
      report.warnings.push(
        `${pair.cert}: expires in ${days} day${days === 1 ? '' : 's'} (${loaded.notAfter.toISOString()})`,
      );
    if (loaded.notBefore.getTime() > now)
      report.errors.push(`${pair.cert}: not valid before ${loaded.notBefore.toISOString()}`);
    return report;
  });
}

function readPem(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new CertificateError(file, `cannot read the file (${code})`);
  }
}
