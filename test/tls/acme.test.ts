import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Agent } from 'node:https';
import type { Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import acme from 'acme-client';
import { certificateNames } from '../../config/certificate-names.js';
import type { AcmeConfig, TlsCertificateConfig, TlsConfig } from '../../config/index.js';
import { installedNginxVersion } from '../../nginx/nginx-version.js';
import { renderNginx } from '../../nginx/render.js';
import { createLogger } from '../../process/logger.js';
import {
  AcmeManager,
  type AcmeManagerOptions,
  acmeCertificateFiles,
  challengeToken,
} from '../../proxy/tls/acme/index.js';
import { freePort, listenLocal } from '../helpers/net.js';
import { configFrom, startNginx } from '../helpers/nginx.js';
import { type Pebble, startPebble } from '../helpers/pebble.js';
import { requires } from '../helpers/system-deps.js';
import { waitFor } from '../helpers/wait.js';

// AcmeManager against a real ACME server on loopback (pebble), validating over HTTP-01 against a
// plain listener that answers from AcmeManager.challengeAnswer, as the proxy's plain listener does.

const DOMAINS = ['shop.gatehouse.example', 'www.gatehouse.example'];

interface Watched {
  manager: AcmeManager;
  /** Every pair handed over, with the certificate's fingerprint at that moment. */
  handed: Array<{ pair: TlsCertificateConfig; fingerprint: string }>;
  logs: Array<{ msg?: string; reason?: string; [key: string]: unknown }>;
}

describe('automatic certificates (AcmeManager against pebble)', requires('pebble'), () => {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-acme-'));
  /** The managers whose answers the challenge listener gives (a manager left out fails validation). */
  const answering = new Set<AcmeManager>();
  const running = new Set<AcmeManager>();
  let challengeHits = 0;
  let listener: Server;
  let pebble: Pebble;

  before(async () => {
    listener = createServer((req, res) => {
      const token = challengeToken(req.url);
      const answer = token
        ? [...answering].map((m) => m.challengeAnswer(token)).find((a) => a !== undefined)
        : undefined;
      if (answer === undefined) {
        res.writeHead(404).end();
        return;
      }
      challengeHits++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end(answer);
    });
    const httpPort = await listenLocal(listener as unknown as NetServer);
    pebble = await startPebble({ httpPort });
    // acme-client talks through one shared axios instance: trust the CA of pebble's HTTPS for it
    // (a deployment against a private ACME CA sets NODE_EXTRA_CA_CERTS instead).
    acme.axios.defaults.httpsAgent = new Agent({ ca: pebble.directoryCa });
  });

  after(async () => {
    await Promise.all([...running].map((m) => m.stop()));
    await pebble?.stop();
    await new Promise((resolve) => listener?.close(resolve));
    rmSync(root, { recursive: true, force: true });
  });

  function config(storage: string, overrides: Partial<AcmeConfig> = {}): AcmeConfig {
    return {
      email: 'ops@gatehouse.example',
      directory: pebble.directory,
      domains: DOMAINS,
      storage,
      ...overrides,
    };
  }

  function manager(
    acmeConfig: AcmeConfig,
    options: Partial<Omit<AcmeManagerOptions, 'logger' | 'onCertificate'>> & {
      answers?: boolean;
      onPair?: () => void;
    } = {},
  ): Watched {
    const handed: Watched['handed'] = [];
    const logs: Watched['logs'] = [];
    const logger = createLogger(
      { name: 'acme-test', level: 'debug' },
      { write: (line: string) => void logs.push(JSON.parse(line) as Watched['logs'][number]) },
    );
    const { answers = true, onPair, ...rest } = options;
    const created = new AcmeManager(acmeConfig, {
      logger,
      checkInterval: 60_000,
      ...rest,
      onCertificate: (pair) => {
        handed.push({ pair, fingerprint: new X509Certificate(readFileSync(pair.cert)).fingerprint256 });
        onPair?.();
      },
    });
    if (answers) answering.add(created);
    running.add(created);
    return { manager: created, handed, logs };
  }

  async function stop(watched: Watched): Promise<void> {
    await watched.manager.stop();
    running.delete(watched.manager);
    answering.delete(watched.manager);
  }

  const ordering = (w: Watched) => w.logs.filter((l) => l.msg === 'acme: ordering a certificate').length;
  const failures = (w: Watched) =>
    w.logs.filter((l) => l.msg === 'acme: could not obtain a certificate; retrying');

  test('orders a certificate over HTTP-01, stores it 0600 in a 0700 folder and hands it over', async () => {
    const storage = join(root, 'first');
    const hitsBefore = challengeHits;
    const first = manager(config(storage));
    await first.manager.start();
    await stop(first);

    assert.equal(first.handed.length, 1, JSON.stringify(first.logs));
    assert.deepEqual(first.handed[0]!.pair, acmeCertificateFiles(storage));
    const pem = readFileSync(first.handed[0]!.pair.cert, 'utf8');
    const certificate = new X509Certificate(pem);
    assert.deepEqual(certificateNames(pem).sort(), [...DOMAINS].sort());
    assert.match(certificate.issuer, /Pebble/, 'issued by pebble, not made locally');
    assert.ok(certificate.checkPrivateKey(createPrivateKey(readFileSync(first.handed[0]!.pair.key))));
    assert.ok(challengeHits > hitsBefore, 'pebble fetched the challenge answers from the plain listener');
    assert.equal(statSync(storage).mode & 0o777, 0o700);
    for (const file of ['account.key', 'certificate.pem', 'certificate.key'])
      assert.equal(statSync(join(storage, file)).mode & 0o777, 0o600, file);
    assert.equal(existsSync(join(storage, 'order.lock')), false, 'the lock is released');
  });

  /**
   * A manager on `storage` whose clock a test moves: `dueIn(ms)` puts it `ms` before (negative:
   * after) two-thirds of the stored certificate's lifetime. Once a renewed certificate is handed
   * over the clock is back: one renewal, not a loop. `onRenewed` is the renew hook.
   */
  function clockedManager(storage: string, onRenewed: () => void = () => {}) {
    let offset = 0;
    const watched = manager(config(storage), {
      now: () => Date.now() + offset,
      checkInterval: 200,
      onPair: () => {
        if (watched.handed.length < 2) return;
        offset = 0;
        onRenewed();
      },
    });
    const dueIn = (ms: number) => {
      const stored = new X509Certificate(readFileSync(acmeCertificateFiles(storage).cert));
      const from = Date.parse(stored.validFrom);
      offset = from + ((Date.parse(stored.validTo) - from) * 2) / 3 - ms - Date.now();
    };
    return { watched, dueIn };
  }

  test('serves the stored certificate without ordering, and renews it at two-thirds of its lifetime', async () => {
    const storage = join(root, 'first');
    const stored = new X509Certificate(readFileSync(acmeCertificateFiles(storage).cert));
    const accountKey = readFileSync(join(storage, 'account.key'), 'utf8');
    const { watched: renewing, dueIn } = clockedManager(storage);
    await renewing.manager.start();
    assert.equal(renewing.handed.length, 1);
    assert.equal(renewing.handed[0]!.fingerprint, stored.fingerprint256);
    assert.equal(ordering(renewing), 0, 'a fresh stored certificate is not ordered again');

    // A minute before two-thirds: still not due.
    dueIn(60_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(ordering(renewing), 0);

    dueIn(-1000);
    await waitFor('the renewed certificate', async () => renewing.handed.length > 1, 60_000);
    await stop(renewing);
    const renewed = new X509Certificate(readFileSync(acmeCertificateFiles(storage).cert));
    assert.equal(ordering(renewing), 1);
    assert.notEqual(renewed.fingerprint256, stored.fingerprint256);
    assert.equal(renewing.handed[1]!.fingerprint, renewed.fingerprint256);
    assert.ok(Date.parse(renewed.validTo) >= Date.parse(stored.validTo));
    assert.equal(readFileSync(join(storage, 'account.key'), 'utf8'), accountKey, 'the account key is kept');
  });

  test(
    'real nginx on the rendered tls section serves the obtained certificate; the renew hook (reload) swaps in the next',
    requires('nginx'),
    async () => {
      const storage = join(root, 'first');
      const [plainPort, tlsPort] = [await freePort(), await freePort()];
      const tls: TlsConfig = {
        listen: { host: '127.0.0.1', port: tlsPort },
        certificates: [],
        minVersion: 'TLSv1.2',
        http2: true,
        redirectHttp: true,
        hsts: 0,
        acme: config(storage),
      };
      const snippet = renderNginx(
        { ...configFrom({ listen: `127.0.0.1:${plainPort}` }), tls },
        { target: 'host', nginxVersion: installedNginxVersion() },
      );
      const nginx = await startNginx({ snippet, port: tlsPort });
      try {
        const before = new X509Certificate(readFileSync(acmeCertificateFiles(storage).cert)).fingerprint256;
        assert.equal(await servedFingerprint(tlsPort, DOMAINS[1]!), before);
        // The renew hook for a real nginx: reload (SIGHUP to the master is `nginx -s reload`).
        const { watched, dueIn } = clockedManager(storage, () => process.kill(nginx.pid, 'SIGHUP'));
        await watched.manager.start();
        dueIn(-1000);
        await waitFor('the renewed certificate', async () => watched.handed.length > 1, 60_000);
        await stop(watched);
        const after = watched.handed[1]!.fingerprint;
        assert.notEqual(after, before);
        await waitFor(
          'nginx serving the renewed certificate',
          async () => (await servedFingerprint(tlsPort, DOMAINS[0]!)) === after,
          20_000,
        );
      } finally {
        await nginx.stop();
      }
    },
  );

  test('of two managers on one storage only one orders; the other picks the files up', async () => {
    const storage = join(root, 'shared');
    const one = manager(config(storage), { lockWait: 200 });
    const two = manager(config(storage), { lockWait: 200 });
    await Promise.all([one.manager.start(), two.manager.start()]);
    await waitFor(
      'both managers handing over a certificate',
      async () => one.handed.length > 0 && two.handed.length > 0,
      60_000,
    );
    await Promise.all([stop(one), stop(two)]);
    assert.equal(ordering(one) + ordering(two), 1, JSON.stringify([...one.logs, ...two.logs]));
    const waited = [...one.logs, ...two.logs].filter(
      (l) => l.msg === 'acme: another process is ordering; waiting for its files',
    );
    assert.ok(
      waited.length > 0,
      `the second found the lock held: ${JSON.stringify([...one.logs, ...two.logs])}`,
    );
    assert.equal(one.handed.at(-1)!.fingerprint, two.handed.at(-1)!.fingerprint);
  });

  test('a validation that fails is logged with the reason and retried with backoff', async () => {
    const storage = join(root, 'unanswered');
    const unanswered = manager(config(storage, { domains: ['nobody-answers.gatehouse.example'] }), {
      answers: false,
      backoff: { initial: 200, max: 400 },
    });
    await unanswered.manager.start();
    await waitFor('a second attempt', async () => failures(unanswered).length >= 2, 60_000);
    await stop(unanswered);
    assert.equal(unanswered.handed.length, 0);
    assert.match(String(failures(unanswered)[0]!.reason), /nobody-answers|404|invalid|unauthorized/i);
    assert.deepEqual(
      failures(unanswered)
        .slice(0, 2)
        .map((l) => l.retryIn),
      [200, 400],
    );
    assert.equal(existsSync(join(storage, 'order.lock')), false);
  });

  test('an unreachable directory is logged and retried, never thrown', async () => {
    const settings = acme.axios.defaults as unknown as { acmeSettings: { retryMaxAttempts: number } };
    const retries = settings.acmeSettings.retryMaxAttempts;
    // acme-client's own retries of a refused connection wait 5 s, 10 s, ...: ours are what is tested.
    settings.acmeSettings.retryMaxAttempts = 0;
    try {
      const storage = join(root, 'unreachable');
      const lost = manager(config(storage, { directory: `https://127.0.0.1:${await freePort()}/dir` }), {
        backoff: { initial: 100, max: 100 },
      });
      await lost.manager.start();
      await waitFor('a second attempt', async () => failures(lost).length >= 2, 30_000);
      await stop(lost);
      assert.match(String(failures(lost)[0]!.reason), /ECONNREFUSED/);
    } finally {
      settings.acmeSettings.retryMaxAttempts = retries;
    }
  });
});

/** The fingerprint of the certificate a TLS server presents for `servername` (chain not checked: pebble's root is not trusted here). */
function servedFingerprint(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}
