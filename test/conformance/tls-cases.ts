import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { RawBackend } from '../helpers/raw-backend.js';
import type { FrontName } from './fronts.js';
import { staticFixture } from './static-cases.js';
import { http2, https1, plain } from './tls-client.js';

// The TLS cases, the same for every front with a TLS listener (tls-fronts.ts): one sample worker
// behind it, two certificates from the suite's CA (the first the default).

export interface TlsCaseEnv {
  front: FrontName;
  plainPort: number;
  tlsPort: number;
  /** The CA that signed both certificates (PEM): all the clients trust. */
  ca: string;
  /** The names of the default certificate and of the second. */
  names: { first: string; second: string };
  /** The recording backend, for a case that asks for one instead of the sample worker. */
  raw: RawBackend | null;
}

export interface TlsCase {
  name: string;
  /** Raw config keys over the suite's base config (a function: made when the case runs). */
  overrides?: Record<string, unknown> | (() => Record<string, unknown>);
  /** tls.hsts (seconds) for this case; the suite runs without HSTS otherwise. */
  hsts?: number;
  /** What stands behind the front: the sample worker (default) or a recording backend. */
  backend?: 'worker' | 'raw';
  check(env: TlsCaseEnv): Promise<void>;
}

/** The request headers the worker received (its GET /headers). */
function workerHeaders(body: Buffer): Record<string, string> {
  return (JSON.parse(body.toString()) as { headers: Record<string, string> }).headers;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
/** Many times any HTTP/2 flow-control window (64 KiB initial), small enough to send fast on a loaded machine. */
const LARGE_UPLOAD = 2 * 1024 * 1024;
const LARGE = 8 * 1024 * 1024;

const HSTS = 31_536_000;

export const tlsCases: TlsCase[] = [
  {
    // nginx: a location with an add_header of its own (immutable files, a rate limit's Retry-After)
    // inherits none of the server's, so the renderer says HSTS again there.
    name: 'hsts: Strict-Transport-Security on every https answer, also from a static route with immutable and a rate-limited route',
    hsts: HSTS,
    overrides: () => ({
      routes: [
        { path: '/static/', static: { root: join(staticFixture(), 'site'), expires: '1h', immutable: true } },
        { name: 'api', path: '/api/', limits: { requests: { rate: '100r/s', burst: 50, nodelay: true } } },
        { name: 'site' },
      ],
    }),
    async check({ plainPort, tlsPort, ca, names }) {
      for (const client of [https1, http2]) {
        for (const path of ['/static/site.css', '/static/missing.css', '/api/headers', '/headers']) {
          const response = await client({ port: tlsPort, ca, servername: names.first, path });
          const where = `${client.name} ${path}: ${response.status}`;
          assert.equal(response.headers['strict-transport-security'], `max-age=${HSTS}`, where);
          assert.ok(response.headers['x-request-id'], `${where}: the request id too`);
        }
        const file = await client({ port: tlsPort, ca, servername: names.first, path: '/static/site.css' });
        assert.equal(file.status, 200);
        assert.match(
          String(file.headers['cache-control']),
          /immutable/,
          `${client.name}: the route's own header`,
        );
      }
      // Never over plain HTTP (RFC 6797 §7.2).
      const healthz = await plain(plainPort, '/healthz', names.first);
      assert.equal(healthz.status, 200);
      assert.equal(healthz.headers['strict-transport-security'], undefined);
    },
  },
  {
    name: 'HTTP/1.1 over TLS reaches the worker, which is told X-Forwarded-Proto https',
    async check({ tlsPort, ca, names }) {
      const response = await https1({ port: tlsPort, ca, servername: names.first, path: '/headers' });
      assert.equal(response.status, 200);
      assert.notEqual(response.alpn, 'h2');
      const headers = workerHeaders(response.body);
      assert.equal(headers['x-forwarded-proto'], 'https');
      assert.equal(headers.host, names.first);
    },
  },
  {
    name: 'HTTP/2 (ALPN h2): :authority becomes Host, X-Forwarded-Proto https, the worker gets HTTP/1.1',
    async check({ tlsPort, ca, names }) {
      const response = await http2({ port: tlsPort, ca, servername: names.second, path: '/headers' });
      assert.equal(response.status, 200);
      assert.equal(response.alpn, 'h2');
      const headers = workerHeaders(response.body);
      assert.equal(headers.host, names.second);
      assert.equal(headers['x-forwarded-proto'], 'https');
      assert.equal(response.headers.connection, undefined, 'no connection-specific header on h2');
    },
  },
  {
    name: 'SNI chooses the certificate; no SNI or an unknown name gets the first (default)',
    async check({ tlsPort, ca, names }) {
      const second = await https1({ port: tlsPort, ca, servername: names.second, path: '/healthz' });
      assert.equal(second.servedCn, names.second);
      const first = await http2({ port: tlsPort, ca, servername: names.first, path: '/healthz' });
      assert.equal(first.servedCn, names.first);
      // No name: the address is not on the certificate, so this client checks the chain only.
      const unnamed = await new Promise<string>((resolve, reject) => {
        import('node:tls').then(({ connect }) => {
          const socket = connect(
            { host: '127.0.0.1', port: tlsPort, ca, checkServerIdentity: () => undefined },
            () => {
              const cn = (socket.getPeerCertificate().subject as unknown as Record<string, string>).CN ?? '';
              socket.end();
              resolve(cn);
            },
          );
          socket.on('error', reject);
        }, reject);
      });
      assert.equal(unnamed, names.first);
    },
  },
  {
    name: 'plain HTTP answers 308 to the same URL on https, but /healthz and ACME challenges stay plain',
    async check({ plainPort, tlsPort, names }) {
      const redirected = await plain(plainPort, '/signin?next=%2F', `${names.first}:${plainPort}`);
      assert.equal(redirected.status, 308);
      assert.equal(redirected.location, `https://${names.first}:${tlsPort}/signin?next=%2F`);
      assert.equal((await plain(plainPort, '/healthz', names.first)).status, 200);
      // No ACME here: the challenge path reaches the pool, whose sample site does not know it.
      assert.equal((await plain(plainPort, '/.well-known/acme-challenge/abc', names.first)).status, 404);
    },
  },
  {
    // nginx picks both the certificate (SNI) and the routes (Host) by server_name: the second
    // certificate has no route host, so it needs a server of its own holding the any-host routes.
    name: 'routes over TLS: Host picks the route on h1 and h2, SNI the certificate, also for a name no route host takes',
    overrides: {
      routes: [
        { host: 'alpha.gatehouse.example', redirect: { to: 'https://moved.example', status: 302 } },
        { name: 'site' },
      ],
    },
    async check({ plainPort, tlsPort, ca, names }) {
      assert.equal(names.first, 'alpha.gatehouse.example');
      for (const client of [https1, http2]) {
        const moved = await client({ port: tlsPort, ca, servername: names.first, path: '/a?b=1' });
        assert.equal(moved.status, 302);
        assert.equal(moved.headers.location, 'https://moved.example/a?b=1');
        assert.equal(moved.servedCn, names.first);
        const site = await client({ port: tlsPort, ca, servername: names.second, path: '/headers' });
        assert.equal(site.status, 200, site.body.subarray(0, 300).toString());
        assert.equal(site.servedCn, names.second);
        const headers = workerHeaders(site.body);
        assert.equal(headers.host, names.second);
        assert.equal(headers['x-forwarded-proto'], 'https');
      }
      const redirected = await plain(plainPort, '/a', `${names.first}:${plainPort}`);
      assert.equal(redirected.status, 308);
      assert.equal(redirected.location, `https://${names.first}:${tlsPort}/a`);
    },
  },
  {
    // Not through the worker's /echo: a proxy that sends the whole request before it reads the
    // answer (nginx) and an echo that answers while it reads deadlock once the socket buffers fill.
    name: 'a large request body streams over HTTP/2 with flow control and reaches the backend byte for byte',
    backend: 'raw',
    overrides: { client_max_body_size: '16m' },
    async check({ tlsPort, ca, names, raw }) {
      const body = randomBytes(LARGE_UPLOAD);
      const response = await http2({
        port: tlsPort,
        ca,
        servername: names.first,
        method: 'POST',
        path: '/upload',
        body,
        timeout: 60_000,
      });
      assert.equal(response.status, 200, response.body.subarray(0, 300).toString());
      const received = raw!.requests.map((request) => request.body);
      assert.equal(received.length, 1);
      assert.equal(received[0]!.length, LARGE_UPLOAD);
      assert.equal(sha256(received[0]!), sha256(body));
    },
  },
  {
    name: 'a large response streams over HTTP/2 with flow control, whole',
    async check({ tlsPort, ca, names }) {
      const download = await http2({
        port: tlsPort,
        ca,
        servername: names.second,
        path: `/bytes/${LARGE}`,
        timeout: 60_000,
      });
      assert.equal(download.status, 200);
      assert.equal(download.body.length, LARGE);
      assert.ok(
        download.body.every((byte) => byte === 0x61),
        'the body is the bytes the worker sent',
      );
    },
  },
];
