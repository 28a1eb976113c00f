import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeCa, makeLeaf } from '../helpers/openssl-certs.js';
import { createRawBackend } from '../helpers/raw-backend.js';
import { requires } from '../helpers/system-deps.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { type TlsCaseEnv, tlsCases } from './tls-cases.js';
import { tlsFronts } from './tls-fronts.js';

// The TLS cases against every front with a TLS listener, in front of one real sample worker, with
// two certificates made by openssl from a CA of the suite's own.

const NAMES = { first: 'alpha.gatehouse.example', second: 'beta.gatehouse.example' };

for (const front of tlsFronts) {
  describe(`TLS conformance: ${front.name}`, requires(...front.needs), () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-certs-'));
    let worker: WorkerProcess;
    let ca: string;
    let certificates: Array<{ cert: string; key: string }>;
    before(async () => {
      const authority = makeCa(dir);
      ca = readFileSync(authority.cert, 'utf8');
      certificates = [
        makeLeaf(dir, 'first', authority, [NAMES.first]),
        makeLeaf(dir, 'second', authority, [NAMES.second]),
      ];
      worker = await startWorker();
    });
    after(async () => {
      await worker?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    for (const c of tlsCases) {
      test(c.name, { timeout: 90_000 }, async () => {
        const raw = c.backend === 'raw' ? await createRawBackend({ name: 'recording' }) : null;
        const started = await front.start({
          servers: [raw ? raw.address : `127.0.0.1:${worker.port}`],
          certificates,
          ...(c.overrides
            ? { overrides: typeof c.overrides === 'function' ? c.overrides() : c.overrides }
            : {}),
          ...(c.hsts ? { hsts: c.hsts } : {}),
        });
        try {
          const env: TlsCaseEnv = {
            front: front.name,
            plainPort: started.plainPort,
            tlsPort: started.tlsPort,
            ca,
            names: NAMES,
            raw,
          };
          await c.check(env);
        } finally {
          await started.stop();
          await raw?.close();
        }
      });
    }
  });
}
