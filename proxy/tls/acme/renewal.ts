import { certificateNames } from '../../../config/certificate-names.js';
import { parsePair } from '../certificates.js';
import type { StoredCertificate } from './storage.js';

/** Renewal is due at two-thirds of a certificate's lifetime (Let's Encrypt's advice: day 60 of 90). */
export const RENEW_AT_FRACTION = 2 / 3;

export interface UsableCertificate {
  /** SHA-256 fingerprint: tells a new certificate from the one already handed over. */
  fingerprint: string;
  notAfter: number;
  /** Epoch ms at which to order the next one. */
  renewAt: number;
}

/**
 * Whether a stored pair can be served for `domains`: it parses, the key is the certificate's, and
 * it names every domain asked for (a domain added to the config means a new order). The reason
 * when not; its dates when so.
 */
export function inspectStored(
  stored: StoredCertificate,
  domains: readonly string[],
): UsableCertificate | { unusable: string } {
  const parsed = parsePair(stored.cert, stored.key);
  if ('problem' in parsed)
    return { unusable: parsed.problem === 'mismatch' ? parsed.reason : `unreadable: ${parsed.reason}` };
  const certificate = parsed.leaf;
  const names = new Set(certificateNames(certificate));
  const missing = domains.filter((domain) => !names.has(domain.toLowerCase()));
  if (missing.length > 0) return { unusable: `it does not name ${missing.join(', ')}` };
  const notBefore = Date.parse(certificate.validFrom);
  const notAfter = Date.parse(certificate.validTo);
  return {
    fingerprint: certificate.fingerprint256,
    notAfter,
    renewAt: notBefore + (notAfter - notBefore) * RENEW_AT_FRACTION,
  };
}
