import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsCertificateConfig } from '../../config/index.js';
import {
  type Authority,
  createAuthority,
  issueServerCertificate,
  type ValidityOptions,
} from '../../proxy/tls/issue.js';

/**
 * Certificates for one test run, made fresh in a temp dir (no private key is ever committed):
 * one test CA, and server pairs it signs, written as PEM files a config can name.
 */
export interface TestCertificates {
  readonly dir: string;
  readonly ca: Authority;
  /** Writes a pair for `names` as <file>.pem / <file>-key.pem (again: replaced in place). */
  issue(
    file: string,
    names: readonly string[],
    validity?: ValidityOptions,
  ): Promise<TlsCertificateConfig & { pem: string }>;
  remove(): void;
}

export async function testCertificates(): Promise<TestCertificates> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'));
  const ca = await createAuthority('gatehouse test CA');
  return {
    dir,
    ca,
    async issue(file, names, validity) {
      const issued = await issueServerCertificate(ca, names, validity);
      const cert = join(dir, `${file}.pem`);
      const key = join(dir, `${file}-key.pem`);
      writeFileSync(key, issued.key, { mode: 0o600 });
      writeFileSync(cert, issued.cert);
      return { cert, key, pem: issued.cert };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
