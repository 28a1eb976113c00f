import { randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

/*
 * Certificates made here: the local CA and localhost certificate of `gatehouse cert --dev`, and
 * the tests' certificates. Node can read X.509 but not write it, and shelling out to openssl
 * would make a dev command depend on a binary (and its version's flags) that Windows and slim
 * images lack. @peculiar/x509 builds the certificates over WebCrypto, which Node has built in.
 */
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** ECDSA P-256: every TLS client takes it, and a key is made in a millisecond (RSA: ~100 ms). */
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, PEM. */
export interface IssuedPem {
  cert: string;
  key: string;
}

export interface Authority extends IssuedPem {
  readonly keys: CryptoKeyPair;
  readonly certificate: x509.X509Certificate;
}

export interface ValidityOptions {
  /** Default: one minute ago (clocks of a client and a container may differ a little). */
  notBefore?: Date;
  /** Default: `days` after notBefore. */
  notAfter?: Date;
  days?: number;
}

/** A self-signed certificate authority that can sign server certificates (and nothing else). */
export async function createAuthority(
  commonName: string,
  validity: ValidityOptions = {},
): Promise<Authority> {
  const keys = await newKeys();
  const { notBefore, notAfter } = period(validity, 3650);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keys, certificate, cert: certificate.toString('pem'), key: await keyPem(keys) };
}

/** An authority made earlier (its PEM files), to sign with again. */
export async function loadAuthority(certPem: string, keyPem: string): Promise<Authority> {
  const certificate = new x509.X509Certificate(certPem);
  const der = Buffer.from(keyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ALGORITHM, true, ['sign']);
  const publicKey = await certificate.publicKey.export(ALGORITHM, ['verify'], webcrypto as unknown as Crypto);
  return { keys: { privateKey, publicKey } as CryptoKeyPair, certificate, cert: certPem, key: keyPem };
}

/**
 * A server certificate for `names` (DNS names, wildcards, IP addresses) signed by `authority`; the
 * PEM `cert` is the leaf followed by nothing else (the authority is the client's to trust).
 */
export async function issueServerCertificate(
  authority: Authority,
  names: readonly string[],
  validity: ValidityOptions = {},
): Promise<IssuedPem> {
  const keys = await newKeys();
  const { notBefore, notAfter } = period(validity, 825);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names[0] ?? 'localhost'}`,
    issuer: authority.certificate.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: authority.keys.privateKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((name) => ({ type: isIP(name) ? ('ip' as const) : ('dns' as const), value: name })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(authority.certificate),
    ],
  });
  return { cert: certificate.toString('pem'), key: await keyPem(keys) };
}

function newKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

async function keyPem(keys: CryptoKeyPair): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as webcrypto.CryptoKey));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

function period(validity: ValidityOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const notBefore = validity.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter =
    validity.notAfter ?? new Date(notBefore.getTime() + (validity.days ?? defaultDays) * DAY_MS);
  return { notBefore, notAfter };
}

/** A positive 128-bit serial (RFC 5280: unique per CA, at most 20 bytes, not negative). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}
