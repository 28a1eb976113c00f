import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Test certificates made by the openssl command line (as a user makes them), not by our own code:
// a local CA and leaf certificates it signs, ECDSA P-256, valid two days.

export interface TestCa {
  cert: string;
  key: string;
}

export interface TestLeaf {
  cert: string;
  key: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

/** A new ECDSA P-256 key, unencrypted, made with the request. */
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A CA under `dir` (ca.pem, ca.key). */
export function makeCa(dir: string, name = 'gatehouse test CA'): TestCa {
  const ca = { cert: join(dir, 'ca.pem'), key: join(dir, 'ca.key') };
  openssl([
    'req',
    '-x509',
    ...NEW_KEY,
    '-keyout',
    ca.key,
    '-out',
    ca.cert,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ]);
  return ca;
}

/**
 * A leaf for `names` signed by `ca`, as `<file>.pem` and `<file>.key` under `dir`. Names that are
 * IPv4 addresses become IP entries of the subjectAltName, the others DNS entries; the CN is the first.
 */
export function makeLeaf(dir: string, file: string, ca: TestCa, names: readonly string[]): TestLeaf {
  const leaf = { cert: join(dir, `${file}.pem`), key: join(dir, `${file}.key`) };
  const csr = join(dir, `${file}.csr`);
  const ext = join(dir, `${file}.ext`);
  const san = names.map((name) => (/^\d+\.\d+\.\d+\.\d+$/.test(name) ? `IP:${name}` : `DNS:${name}`));
  writeFileSync(ext, `subjectAltName=${san.join(',')}\nextendedKeyUsage=serverAuth\n`);
  openssl(['req', ...NEW_KEY, '-keyout', leaf.key, '-out', csr, '-subj', `/CN=${names[0]}`]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    leaf.cert,
    '-extfile',
    ext,
  ]);
  return leaf;
}
