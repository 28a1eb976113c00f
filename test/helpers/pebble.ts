import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killOnExit } from './child.js';
import { freePort, waitForPort } from './net.js';
import { makeCa, makeLeaf } from './openssl-certs.js';

// A real ACME server on loopback: Debian's pebble (RFC 8555 test CA) with pebble-challtestsrv as
// its DNS server, answering 127.0.0.1 for every name, so HTTP-01 validation comes to
// 127.0.0.1:<httpPort>, where the test's challenge listener is.

export interface Pebble {
  /** The ACME directory URL (https, 127.0.0.1). */
  directory: string;
  /** PEM of the CA that signed pebble's own HTTPS certificate: what a client trusts to reach it. */
  directoryCa: string;
  /** PEM of the root pebble issues under (from its management interface; a new one each run). */
  issuingRoot(): Promise<string>;
  /** What the two processes printed, for assertion messages. */
  output(): string;
  stop(): Promise<void>;
}

interface Started {
  child: ChildProcess;
  forget: () => void;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** GET of a PEM over https, trusting `ca`. */
function fetchPem(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca, timeout: 20_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode} ${body}`)),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
    req.on('error', reject);
  });
}

/** Starts challtestsrv and pebble; `httpPort` is where pebble sends HTTP-01 validation requests. */
export async function startPebble(options: { httpPort: number }): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pebble-'));
  let output = '';
  const started: Started[] = [];
  const run = (command: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const child = spawn(command, args, {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('error', (err) => {
      output += `\n[${command}] ${err.message}\n`;
    });
    started.push({ child, forget: killOnExit(child) });
    return child;
  };
  const stop = async () => {
    for (const { child } of started)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(
      started.map(async ({ child, forget }) => {
        await exited(child);
        forget();
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [dnsPort, managementPort, acmePort, tlsPort, pebbleManagementPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const dns = run('pebble-challtestsrv', [
      '-dns01',
      `127.0.0.1:${dnsPort}`,
      '-management',
      `127.0.0.1:${managementPort}`,
      '-http01',
      '',
      '-https01',
      '',
      '-tlsalpn01',
      '',
      '-defaultIPv4',
      '127.0.0.1',
      '-defaultIPv6',
      '',
    ]);
    await waitForPort(managementPort, 20_000, () =>
      dns.exitCode !== null ? `pebble-challtestsrv exited:\n${output}` : null,
    );
    const ca = makeCa(dir, 'gatehouse test CA for pebble');
    const leaf = makeLeaf(dir, 'pebble', ca, ['127.0.0.1', 'localhost']);
    const config = join(dir, 'pebble-config.json');
    writeFileSync(
      config,
      JSON.stringify({
        pebble: {
          listenAddress: `127.0.0.1:${acmePort}`,
          managementListenAddress: `127.0.0.1:${pebbleManagementPort}`,
          certificate: leaf.cert,
          privateKey: leaf.key,
          httpPort: options.httpPort,
          tlsPort,
          ocspResponderURL: '',
          externalAccountBindingRequired: false,
        },
      }),
    );
    // No random 0-15 s sleep before each validation: the test waits for issuance, not for dice.
    const pebble = run('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`], {
      PEBBLE_VA_NOSLEEP: '1',
      // Pebble rejects 5% of good nonces by default, to exercise clients' retries; acme-client's are
      // tested upstream, and here a rejection beyond its retries would only fail an order at random.
      PEBBLE_WFE_NONCEREJECT: '0',
    });
    await waitForPort(acmePort, 20_000, () =>
      pebble.exitCode !== null ? `pebble exited:\n${output}` : null,
    );
    const directoryCa = readFileSync(ca.cert, 'utf8');
    return {
      directory: `https://127.0.0.1:${acmePort}/dir`,
      directoryCa,
      issuingRoot: () => fetchPem(`https://127.0.0.1:${pebbleManagementPort}/roots/0`, directoryCa),
      output: () => output,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
