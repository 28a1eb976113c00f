import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

// HTTP-01 answers. The process that orders knows them; with several proxy processes behind one
// port (node:cluster) the CA's request may reach any of them, so each answer is also written under
// storage/challenges/ where every process finds it.

/** RFC 8555 tokens are base64url; anything else is no token of ours (and no path to read). */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export class ChallengeAnswers {
  readonly #answers = new Map<string, string>();
  readonly #folder: string;

  constructor(storage: string) {
    this.#folder = join(storage, 'challenges');
  }

  async add(token: string, keyAuthorization: string): Promise<void> {
    if (!TOKEN.test(token))
      throw new Error(`the ACME server sent an invalid challenge token ${JSON.stringify(token)}`);
    this.#answers.set(token, keyAuthorization);
    await mkdir(this.#folder, { recursive: true, mode: 0o700 });
    await writeFile(join(this.#folder, token), keyAuthorization, { mode: 0o600 });
  }

  async remove(token: string): Promise<void> {
    this.#answers.delete(token);
    if (TOKEN.test(token)) await rm(join(this.#folder, token), { force: true });
  }

  /** The key authorization to answer for `token`, or undefined (the listener then answers 404). */
  answer(token: string): string | undefined {
    if (!TOKEN.test(token)) return undefined;
    const known = this.#answers.get(token);
    if (known !== undefined) return known;
    try {
      // Synchronous on purpose: a few bytes, read only for a challenge path, answered in one go.
      return readFileSync(join(this.#folder, token), 'utf8');
    } catch {
      return undefined;
    }
  }
}
