import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { challengeToken } from '../../proxy/tls/acme/challenge-path.js';
import { ChallengeAnswers } from '../../proxy/tls/acme/challenges.js';
import { takeOrderLock } from '../../proxy/tls/acme/lock.js';
import { inspectStored } from '../../proxy/tls/acme/renewal.js';
import {
  acmeCertificateFiles,
  ensureStorage,
  lockFile,
  storeCertificate,
} from '../../proxy/tls/acme/storage.js';
import { makeCa, makeLeaf } from '../helpers/openssl-certs.js';

// The parts of AcmeManager that need no ACME server: the order lock, the shared challenge answers,
// the stored files and the renewal date. Files only, no sockets.

describe('ACME storage, lock and renewal date', () => {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-acme-unit-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  let folders = 0;
  const folder = async () => {
    const dir = join(root, `s${folders++}`);
    await ensureStorage(dir);
    return dir;
  };

  test('the lock is taken once, names its holder, and is free again after release', async () => {
    const storage = await folder();
    const first = await takeOrderLock(storage);
    assert.ok('release' in first);
    assert.equal(readFileSync(lockFile(storage), 'utf8'), String(process.pid));
    assert.deepEqual(await takeOrderLock(storage), { heldBy: process.pid });
    await first.release();
    const again = await takeOrderLock(storage);
    assert.ok('release' in again);
    await again.release();
    assert.deepEqual(readdirSync(storage), [], 'no lock nor temp file left');
  });

  test('a lock left by a dead process is taken over', async () => {
    const storage = await folder();
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    assert.ok(dead > 0);
    writeFileSync(lockFile(storage), String(dead));
    const taken = await takeOrderLock(storage);
    assert.ok('release' in taken, `the lock of dead pid ${dead} was not taken over`);
    assert.equal(readFileSync(lockFile(storage), 'utf8'), String(process.pid));
    await taken.release();
  });

  test('a challenge answer given by one process is found by another on the same storage', async () => {
    const storage = await folder();
    const ordering = new ChallengeAnswers(storage);
    const other = new ChallengeAnswers(storage);
    await ordering.add('tok-EN_1', 'tok-EN_1.thumbprint');
    assert.equal(other.answer('tok-EN_1'), 'tok-EN_1.thumbprint');
    assert.equal(statSync(join(storage, 'challenges', 'tok-EN_1')).mode & 0o777, 0o600);
    await ordering.remove('tok-EN_1');
    assert.equal(other.answer('tok-EN_1'), undefined);
    assert.equal(ordering.answer('tok-EN_1'), undefined);
  });

  test('a token that is not base64url is never a path: no answer, and never stored', async () => {
    const storage = await folder();
    writeFileSync(join(storage, 'secret'), 'account key');
    const answers = new ChallengeAnswers(storage);
    assert.equal(answers.answer('../secret'), undefined);
    assert.equal(answers.answer('..%2Fsecret'), undefined);
    await assert.rejects(answers.add('../x', 'y'), /invalid challenge token/);
  });

  test('a challenge request target gives its token; anything else none', () => {
    assert.equal(challengeToken('/.well-known/acme-challenge/tok-EN_1'), 'tok-EN_1');
    assert.equal(challengeToken('/.well-known/acme-challenge/tok?x=1'), 'tok');
    for (const target of [
      '/.well-known/acme-challenge/',
      '/.well-known/acme-challenge/a/b',
      '/healthz',
      undefined,
    ])
      assert.equal(challengeToken(target), null, String(target));
  });

  test('a stored pair is written 0600 through temp files, and judged by key, names and dates', async () => {
    const storage = await folder();
    const ca = makeCa(root);
    const leaf = makeLeaf(root, 'shop', ca, ['shop.example', 'www.shop.example']);
    const other = makeLeaf(root, 'other', ca, ['other.example']);
    const pair = { cert: readFileSync(leaf.cert, 'utf8'), key: readFileSync(leaf.key, 'utf8') };
    await storeCertificate(storage, pair);
    const files = acmeCertificateFiles(storage);
    assert.equal(readFileSync(files.cert, 'utf8'), pair.cert);
    for (const file of [files.cert, files.key]) assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(storage).sort(), ['certificate.key', 'certificate.pem']);

    const usable = inspectStored(pair, ['shop.example', 'WWW.shop.example']);
    assert.ok('renewAt' in usable);
    const certificate = new X509Certificate(pair.cert);
    const from = Date.parse(certificate.validFrom);
    const to = Date.parse(certificate.validTo);
    assert.equal(usable.renewAt, from + ((to - from) * 2) / 3);
    assert.equal(usable.notAfter, to);

    assert.deepEqual(inspectStored(pair, ['shop.example', 'new.shop.example']), {
      unusable: 'it does not name new.shop.example',
    });
    assert.deepEqual(
      inspectStored({ cert: pair.cert, key: readFileSync(other.key, 'utf8') }, ['shop.example']),
      {
        unusable: 'the key does not match the certificate',
      },
    );
    assert.match(
      String((inspectStored({ cert: 'junk', key: pair.key }, []) as { unusable: string }).unusable),
      /^unreadable/,
    );
  });
});
