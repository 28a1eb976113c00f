import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { closedPort, servers, startProxyProcess } from '../helpers/proxy.js';
import { type TestCertificates, testCertificates } from './certs.js';

// TLS session resumption through the proxy process: a client that kept its session (a TLS 1.3
// ticket) skips the full handshake on its next connections — also with instances: 2, where the
// next connection may reach the other process (the cluster shares one set of ticket keys).

let certs: TestCertificates;
before(async () => {
  certs = await testCertificates();
});
after(() => certs?.remove());

interface Visit {
  reused: boolean;
  /** The session to offer next time (the ticket the server sent on this connection). */
  session: Buffer | null;
  status: string;
}

/** One connection: a request for /healthz, its status line, whether the handshake resumed `session`. */
function visit(port: number, session: Buffer | null): Promise<Visit> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | null = null;
    let reply = '';
    let reused = false;
    const socket = connect(
      {
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: certs.ca.cert,
        ALPNProtocols: ['http/1.1'],
        ...(session ? { session } : {}),
      },
      () => {
        reused = socket.isSessionReused();
        socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      },
    );
    socket.setTimeout(30_000, () => socket.destroy(new Error('no answer within 30 s')));
    socket.on('session', (s: Buffer) => {
      ticket = s;
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      reply += chunk;
    });
    socket.once('error', reject);
    socket.once('close', () => resolve({ reused, session: ticket, status: reply.split('\r\n')[0] ?? '' }));
  });
}

/**
 * A first full handshake, then (after `between`, e.g. a reload) `count` connections offering the
 * session it got: whether each resumed it.
 */
async function resumedOf(port: number, count: number, between?: () => Promise<void>): Promise<boolean[]> {
  const first = await visit(port, null);
  assert.equal(first.reused, false);
  assert.match(first.status, /^HTTP\/1\.1 \d{3} /);
  assert.ok(first.session, 'the server sent a session ticket');
  await between?.();
  const reused: boolean[] = [];
  for (let i = 0; i < count; i++) {
    const next = await visit(port, first.session);
    assert.match(next.status, /^HTTP\/1\.1 \d{3} /);
    reused.push(next.reused);
  }
  return reused;
}

describe('TLS session resumption', () => {
  test('one process: every later connection resumes the session, also after a certificate reload (SIGHUP)', async (t) => {
    const pair = await certs.issue('one', ['localhost']);
    const proxy = await startProxyProcess(t, {
      config: {
        upstream: { servers: servers(await closedPort()) },
        tls: { listen: '127.0.0.1:0', certificates: [{ cert: pair.cert, key: pair.key }] },
      },
    });
    const port = proxy.logs.find((l) => l.msg === 'listening')!.tlsPort as number;
    assert.deepEqual(await resumedOf(port, 2), [true, true]);
    const reload = async () => {
      const from = proxy.logs.length;
      proxy.signal('SIGHUP');
      await proxy.waitForLog((l) => l.msg === 'configuration reloaded', 15_000, from);
    };
    // The reload builds new certificate contexts; the session keys stay, so sessions from before resume.
    assert.deepEqual(await resumedOf(port, 2, reload), [true, true]);
  });

  test('instances: 2 — the processes share ticket keys, so a session resumes on either', async (t) => {
    const pair = await certs.issue('two', ['localhost']);
    const proxy = await startProxyProcess(t, {
      config: {
        instances: 2,
        upstream: { servers: servers(await closedPort()) },
        tls: { listen: '127.0.0.1:0', certificates: [{ cert: pair.cert, key: pair.key }] },
      },
      listeners: 2,
    });
    const port = proxy.logs.find((l) => l.msg === 'listening')!.tlsPort as number;
    const reload = async () => {
      const from = proxy.logs.length;
      proxy.signal('SIGHUP');
      // Both processes reloaded (each logs it), then on.
      const deadline = Date.now() + 15_000;
      const reloaded = () => proxy.logs.slice(from).filter((l) => l.msg === 'configuration reloaded').length;
      while (reloaded() < 2) {
        assert.ok(Date.now() < deadline, `not both processes reloaded:\n${proxy.describe()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    // The primary hands connections out round-robin: eight reach both processes.
    assert.deepEqual(await resumedOf(port, 8, reload), Array(8).fill(true));
  });
});
