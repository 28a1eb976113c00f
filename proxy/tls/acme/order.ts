import acme from 'acme-client';
import type { AcmeConfig } from '../../../config/index.js';
import type { ChallengeAnswers } from './challenges.js';
import { accountKeyFile, readIfPresent, type StoredCertificate, writeFileAtomic } from './storage.js';

/** The account key stored under `storage`, made (ECDSA P-256) and stored on first use. */
async function accountKey(storage: string): Promise<string> {
  const path = accountKeyFile(storage);
  const stored = await readIfPresent(path);
  if (stored !== null) return stored;
  const made = (await acme.crypto.createPrivateEcdsaKey()).toString();
  await writeFileAtomic(path, made);
  return made;
}

/**
 * One order through acme-client: the account (registered, or found again by its key), a new key
 * and CSR for `domains`, HTTP-01 for each name answered from `answers`, and the issued chain.
 * Only the holder of the order lock calls it.
 */
export async function orderCertificate(
  config: AcmeConfig,
  answers: ChallengeAnswers,
): Promise<StoredCertificate> {
  const client = new acme.Client({
    directoryUrl: config.directory,
    accountKey: await accountKey(config.storage),
  });
  const certificateKey = await acme.crypto.createPrivateEcdsaKey();
  const [, csr] = await acme.crypto.createCsr(
    { commonName: config.domains[0], altNames: [...config.domains] },
    certificateKey,
  );
  const cert = await client.auto({
    csr,
    email: config.email.replace(/^mailto:/, ''),
    // Configuring an ACME directory is agreeing to its CA's terms (as certbot's --agree-tos).
    termsOfServiceAgreed: true,
    challengePriority: ['http-01'],
    // acme-client would first fetch the answer itself from port 80 of each name; the CA checks
    // anyway, and the port it checks need not be one this host reaches by that name.
    skipChallengeVerification: true,
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
      if (challenge.type !== 'http-01') throw new Error(`only http-01 is answered, not ${challenge.type}`);
      await answers.add(challenge.token, keyAuthorization);
    },
    challengeRemoveFn: async (_authz, challenge) => {
      await answers.remove(challenge.token);
    },
  });
  return { cert, key: certificateKey.toString() };
}
