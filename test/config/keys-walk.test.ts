import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { configSchema, defaultConfigFile, packageRoot } from '../../config/index.js';

/**
 * The walk of config/default.yaml (issue 11): every key, and the test that shows the running
 * component — proxy, worker, or the pm2 ecosystem derived from the config — obeying a
 * non-default value of it (not just the loader parsing it). A key added to the file without a
 * line here, or a test renamed away from under its line, fails below.
 */

/** [test file from the repository root, the test's name as written in that file]. */
type Proof = readonly [file: string, name: string];

interface Walked {
  key: string;
  proofs: readonly Proof[];
}

const PROXY = 'test/config/keys-proxy.test.ts';
const WORKER = 'test/config/keys-worker.test.ts';
const ECOSYSTEM = 'test/pm2/ecosystem.test.ts';
const HEALTH = 'test/proxy/health.test.ts';
const TIMEOUTS = 'test/proxy/timeouts.test.ts';
const RETRIES = 'test/proxy/retries.test.ts';
const LIMITS = 'test/proxy/limits.test.ts';
const ACCESS = 'test/proxy/access-log-integration.test.ts';
/** The conformance cases (run by test/conformance/conformance.test.ts against our proxy and nginx). */
const CASES = 'test/conformance/cases.ts';
const PRECISION = 'test/proxy/timeout-precision.test.ts';
const BUFFERED_REQUEST = 'test/proxy/buffering-request.test.ts';
const BUFFERED_RESPONSE = 'test/proxy/buffering-response.test.ts';
const ROUTES = 'test/routes/routing.test.ts';
const RATE_LIMITS = 'test/limits/limits.test.ts';
const RATE_LIMIT_CASES = 'test/conformance/limit-cases.ts';

const listen = [
  PROXY,
  'listen and status.listen: clients and /status are served on exactly the configured host and port',
] as const;
const defaultPool = [
  PROXY,
  'workers.count, workers.host and workers.port: without upstream.servers the proxy balances over count workers at host:port+i',
] as const;
const workerAddress = [
  WORKER,
  'workers.host and workers.port: without PORT and HOST a worker listens on host:port, the next instance on port+1',
] as const;
const ecosystemWorkers = [
  ECOSYSTEM,
  'the workers are one fork-mode app with one instance per configured worker, ports from NODE_APP_INSTANCE',
] as const;
const killTimeouts = [
  'test/config/keys-pm2.test.ts',
  'workers.grace_period and timeouts.shutdown: pm2 waits longer than each before SIGKILL, however long they are',
] as const;
const activeHealth = [
  PROXY,
  'upstream.health.path, interval, fall and rise: probes GET the path every interval; out on the fall-th failed probe, back on the rise-th good one',
] as const;
const healthEnabledTimeout = [
  PROXY,
  'upstream.health.enabled and timeout: a probe answered after the timeout fails; with enabled false no probe is sent',
] as const;
const bufferMemory = [
  BUFFERED_REQUEST,
  'buffering.memory and temp_path: a body under memory stays in memory; one over it goes through a 0600 temp file there, removed after, and arrives intact',
] as const;
const passiveHealth = [
  HEALTH,
  'max_fails=1: a failing upstream is skipped for fail_timeout, then tried again',
] as const;

const walk: readonly Walked[] = [
  {
    key: 'listen',
    proofs: [
      listen,
      [
        'test/proxy/default-config.test.ts',
        'serves the sample site; /headers shows x-real-ip 127.0.0.1 and x-forwarded-for "<client list>, 127.0.0.1"',
      ],
    ],
  },
  {
    key: 'instances',
    proofs: [
      ['test/proxy/cluster.test.ts', 'two proxy processes share the listener and both serve requests'],
      [
        ECOSYSTEM,
        'the proxy runs in cluster mode with the configured instances, so a reload never closes the port',
      ],
    ],
  },
  { key: 'status.listen', proofs: [listen] },
  {
    key: 'status.token',
    proofs: [
      [
        'test/status/token.test.ts',
        'status.token: the running proxy answers /status and /metrics only with Authorization: Bearer <token>; /healthz needs none',
      ],
    ],
  },
  { key: 'workers.count', proofs: [defaultPool, ecosystemWorkers] },
  { key: 'workers.host', proofs: [defaultPool, workerAddress, ecosystemWorkers] },
  { key: 'workers.port', proofs: [defaultPool, workerAddress, ecosystemWorkers] },
  {
    key: 'workers.app',
    proofs: [[WORKER, 'workers.app: the module the config names is served, without --app']],
  },
  {
    key: 'workers.diagnostics',
    proofs: [
      [
        'test/app/worker.test.ts',
        'the diagnostic routes are 404, /healthz still answers, and /ws refuses the upgrade',
      ],
    ],
  },
  {
    key: 'workers.body_limit',
    proofs: [
      [
        'test/app/worker.test.ts',
        'a declared Content-Length over the body limit is a 413 before the body is sent',
      ],
      ['test/app/worker.test.ts', 'a chunked form body that grows over the limit is a 413'],
    ],
  },
  {
    key: 'workers.grace_period',
    proofs: [
      [
        WORKER,
        'workers.grace_period: on SIGTERM a request still running after it is cut, and the worker exits 0',
      ],
      killTimeouts,
    ],
  },
  {
    key: 'workers.keepalive_timeout',
    proofs: [
      [WORKER, 'workers.keepalive_timeout: the worker closes a keep-alive connection left idle for it'],
    ],
  },
  { key: 'workers.max_memory', proofs: [ecosystemWorkers] },
  {
    key: 'workers.timeout',
    proofs: [
      [
        'test/app/watchdog.test.ts',
        'workers.timeout: a worker whose event loop is blocked longer than it is killed with SIGKILL, with one fatal line naming the timeout',
      ],
      [
        'test/pm2/hung-worker.test.ts',
        'workers.timeout 2s: a worker blocked for 60 s is killed and restarted by pm2, and no GET fails meanwhile',
      ],
    ],
  },
  {
    key: 'workers.concurrency',
    proofs: [
      [
        WORKER,
        'workers.concurrency: with 1 the worker runs one request at a time and the next waits (not refused); by default they overlap',
      ],
      [
        'test/app/concurrency.test.ts',
        'keep-alive connections do not get past the limit: requests on pooled connections wait too',
      ],
    ],
  },
  {
    key: 'upstream.servers',
    proofs: [
      [
        'test/proxy/signals.test.ts',
        'a reload under traffic drops no request, and the new pool serves afterwards',
      ],
      [CASES, 'round robin spreads requests evenly over two backends'],
    ],
  },
  { key: 'upstream.servers[].weight', proofs: [[CASES, 'weighted round robin follows the weights (3:1)']] },
  {
    key: 'upstream.servers[].max_fails',
    proofs: [
      [
        PROXY,
        'upstream.servers[].max_fails and fail_timeout: a server keeps its own, not the upstream defaults',
      ],
    ],
  },
  {
    key: 'upstream.servers[].fail_timeout',
    proofs: [
      [
        PROXY,
        'upstream.servers[].max_fails and fail_timeout: a server keeps its own, not the upstream defaults',
      ],
    ],
  },
  {
    key: 'upstream.servers[].backup',
    proofs: [[PROXY, 'upstream.servers[].backup: a backup server takes requests only while no primary can']],
  },
  {
    key: 'upstream.resolve',
    proofs: [
      [PROXY, 'upstream.resolve: the pool is every address of the name, at the configured port'],
      // The interval: the source looks the name up again every interval (a scripted resolver).
      ['test/sources/dns.test.ts', 'delivers a new snapshot only when the set of addresses changed'],
    ],
  },
  {
    key: 'upstream.docker',
    proofs: [
      [
        PROXY,
        "upstream.docker: the pool is the stack's running workers, listed from the engine on the configured socket, at the configured port",
      ],
    ],
  },
  {
    key: 'upstream.balance',
    proofs: [
      [CASES, 'round robin spreads requests evenly over two backends'],
      [PROXY, 'upstream.balance ip_hash: every request of one client address goes to the same upstream'],
      [
        PROXY,
        'upstream.balance least_conn: while one upstream holds a slow request, the next requests go to the other',
      ],
      [
        PROXY,
        'upstream.balance random: of its two draws the less loaded wins, so a busy upstream is passed over',
      ],
    ],
  },
  {
    key: 'upstream.keepalive',
    proofs: [
      [
        'test/proxy/keepalive.test.ts',
        'keepalive 2: after a burst over two upstreams, 2 idle connections stay for the whole pool, the rest are closed',
      ],
    ],
  },
  {
    key: 'upstream.keepalive_timeout',
    proofs: [
      [
        PROXY,
        'upstream.keepalive_timeout: an idle upstream connection is reused within it and closed by the proxy after it',
      ],
    ],
  },
  {
    key: 'upstream.max_fails',
    proofs: [
      passiveHealth,
      [HEALTH, 'max_fails=0 turns passive health off: a failing upstream stays in rotation'],
    ],
  },
  { key: 'upstream.fail_timeout', proofs: [passiveHealth] },
  { key: 'upstream.health.enabled', proofs: [healthEnabledTimeout, activeHealth] },
  { key: 'upstream.health.path', proofs: [activeHealth] },
  { key: 'upstream.health.interval', proofs: [activeHealth] },
  { key: 'upstream.health.timeout', proofs: [healthEnabledTimeout] },
  { key: 'upstream.health.rise', proofs: [activeHealth] },
  { key: 'upstream.health.fall', proofs: [activeHealth] },
  {
    key: 'timeouts.connect',
    proofs: [
      [TIMEOUTS, 'an upstream that never completes the TCP handshake → 504 after the connect timeout'],
      [PRECISION, 'connect: 2 s and 5 s — 504 after the connect timeout'],
    ],
  },
  {
    key: 'timeouts.read',
    proofs: [
      [TIMEOUTS, 'a worker slower than the read timeout → 504'],
      [PRECISION, 'read: 2 s with one retry, and 5 s — each attempt is cut after its read timeout'],
      [
        'test/proxy/signals.test.ts',
        'a reload changes settings for new requests (read timeout shortened → 504)',
      ],
    ],
  },
  {
    key: 'timeouts.send',
    proofs: [
      [PRECISION, 'send: 2 s and 5 s — a worker that stops reading the body gets its request cut, 504'],
    ],
  },
  {
    key: 'timeouts.client_header',
    proofs: [[TIMEOUTS, 'a client that stops sending its headers → 408 after the client header timeout']],
  },
  {
    key: 'timeouts.client_body',
    proofs: [[TIMEOUTS, 'a client that stops sending its body → 408 after the client body timeout']],
  },
  {
    key: 'timeouts.client_keepalive',
    proofs: [[TIMEOUTS, 'an idle keep-alive client connection is closed after client_keepalive']],
  },
  {
    key: 'timeouts.websocket_idle',
    proofs: [
      ['test/proxy/forwarding.test.ts', 'a WebSocket tunnel idle both ways for websocket_idle is closed'],
    ],
  },
  {
    key: 'timeouts.shutdown',
    proofs: [
      [PROXY, 'timeouts.shutdown: on SIGTERM a request still running after it is cut, and the proxy exits 0'],
      killTimeouts,
    ],
  },
  {
    key: 'buffering.request',
    proofs: [
      [
        BUFFERED_REQUEST,
        'buffering.request false: the body streams, the worker sees its first bytes before the client sent the last',
      ],
    ],
  },
  {
    key: 'buffering.response',
    proofs: [
      [
        BUFFERED_RESPONSE,
        'buffering.response false: a worker writing 32 MiB is not done while the client reads nothing',
      ],
    ],
  },
  { key: 'buffering.memory', proofs: [bufferMemory] },
  { key: 'buffering.temp_path', proofs: [bufferMemory] },
  {
    key: 'buffering.max_temp_file_size',
    proofs: [[BUFFERED_RESPONSE, 'buffering.max_temp_file_size: past it the worker waits for the client']],
  },
  {
    key: 'buffering.max_disk',
    proofs: [
      [
        BUFFERED_REQUEST,
        'buffering.max_disk: a body that would need more temp space gets 503 with Retry-After',
      ],
    ],
  },
  {
    key: 'client_max_body_size',
    proofs: [
      [LIMITS, 'a Content-Length over client_max_body_size → 413, and the worker is never contacted'],
      [LIMITS, 'a chunked body growing over the limit → 413, and no complete request reaches the worker'],
    ],
  },
  { key: 'client_max_header_size', proofs: [[LIMITS, 'request headers over client_max_header_size → 431']] },
  {
    key: 'trusted_proxies',
    proofs: [
      [
        'test/proxy/forwarding.test.ts',
        'X-Real-IP is the client address from X-Forwarded-For when the peer is trusted',
      ],
      [ACCESS, 'the logged client address is the realip address behind a trusted proxy'],
    ],
  },
  {
    key: 'retries.next_upstream',
    proofs: [
      [RETRIES, 'next_upstream http_502: a GET answered 502 is tried on the other upstream'],
      [RETRIES, 'without http_502 in next_upstream, an upstream 502 reaches the client as it is'],
      [
        PROXY,
        'retries.next_upstream without error: a GET whose upstream resets is not tried on another (502)',
      ],
      [
        PROXY,
        'retries.next_upstream without timeout: a GET past the read timeout is not tried on another (504)',
      ],
      [
        PROXY,
        'retries.next_upstream http_503 and http_504: a GET so answered is tried on the next upstream; without them it is passed on',
      ],
    ],
  },
  {
    key: 'retries.tries',
    proofs: [
      [RETRIES, 'the tries limit caps the attempts (tries: 2 over three resetting upstreams)'],
      [
        PROXY,
        'retries.tries 0: no limit, every upstream is tried once (the default 3 would stop at the third)',
      ],
    ],
  },
  {
    key: 'access_log.format',
    proofs: [
      [ACCESS, 'combined: one line per request with the request line, status, body bytes, referer and agent'],
      [ACCESS, 'json: request id and upstream match what the client and worker saw'],
    ],
  },
  {
    key: 'access_log.path',
    proofs: [
      [ACCESS, 'json: request id and upstream match what the client and worker saw'],
      [PROXY, 'access_log.path stdout: one combined line per request on stdout; off: none'],
    ],
  },
  {
    key: 'log_level',
    proofs: [
      [PROXY, 'log_level warn: the proxy logs warnings and errors, and no info line (not even "listening")'],
      [
        WORKER,
        'log_level warn: the worker logs app errors, and no info line (no "listening", no request lines)',
      ],
      // Shows log_level debug letting the debug lines through.
      [
        PROXY,
        "upstream.docker: the pool is the stack's running workers, listed from the engine on the configured socket, at the configured port",
      ],
    ],
  },
  {
    key: 'tls',
    proofs: [
      [
        'test/tls/config.test.ts',
        'every key set: hsts as a duration becomes seconds; acme storage from the config folder',
      ],
      // listen, certificates, hsts, redirect_http, http2 on a running proxy.
      [
        'test/tls/listener.test.ts',
        'SNI: each name gets its certificate (exact, wildcard), an unknown name and no SNI the first',
      ],
      [
        'test/tls/listener.test.ts',
        'redirect_http: the plain listener answers 308 to https, but /healthz and ACME challenges',
      ],
      [
        'test/tls/listener.test.ts',
        'HTTP/1.1 over TLS: the worker gets Host and X-Forwarded-Proto https; HSTS on the answer',
      ],
      [
        'test/tls/listener.test.ts',
        'HTTP/2: :authority becomes Host, no pseudo-header reaches the worker, X-Forwarded-Proto https',
      ],
      [
        'test/tls/listener.test.ts',
        'http2 false: ALPN offers http/1.1 only, an h2-only client is refused; TLSv1.3: a TLSv1.2 client is refused',
      ],
    ],
  },
  ...['compression.types', 'compression.min_length', 'compression.level'].map((key) => ({
    key,
    proofs: [
      [
        'test/compression/proxy.test.ts',
        'compression.types, min_length and level: a listed image type and a 10-byte body compressed, level 1 larger than the default 5',
      ] as const,
    ],
  })),
  {
    key: 'routes',
    proofs: [
      [ROUTES, 'routes: the host picks the pool (exact name, then a *.wildcard)'],
      [ROUTES, 'the longest path prefix wins, and strip_prefix takes the prefix off before the pool'],
      [ROUTES, 'a redirect route answers itself: Location is `to` with the stripped path and the query'],
    ],
  },
  {
    key: 'limits.requests',
    proofs: [
      [
        RATE_LIMITS,
        'a burst from one client: 1 + burst pass at once, the rest get 429 with Retry-After, and never reach the backend',
      ],
      [
        RATE_LIMITS,
        'without nodelay the burst is delayed to the rate: the backend gets them 1/rate apart, none refused',
      ],
      [RATE_LIMIT_CASES, 'limits: each route counts on its own, also when both inherit the top-level limit'],
    ],
  },
];

/** Every key path of a document: nested mappings are walked, anything else is a leaf. */
function leafKeys(value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([key, inner]) => leafKeys(inner, prefix ? `${prefix}.${key}` : key));
}

describe('the walk of config/default.yaml', () => {
  test('names every key of the file, and each key a server entry may have, once', () => {
    const serverKeys = Object.keys(configSchema.$defs.server.properties)
      .filter((key) => key !== 'address')
      .map((key) => `upstream.servers[].${key}`);
    const keys = [...leafKeys(parse(readFileSync(defaultConfigFile, 'utf8'))), ...serverKeys].sort();
    const walked = walk.map((w) => w.key);
    assert.deepEqual([...walked].sort(), keys);
    assert.equal(new Set(walked).size, walked.length, 'a key is walked twice');
  });

  test('gives every key a test', () => {
    const bare = walk.filter((w) => w.proofs.length === 0).map((w) => w.key);
    assert.deepEqual(bare, []);
  });

  test('every test it names exists, in the file it names', () => {
    const missing: string[] = [];
    for (const { key, proofs } of walk) {
      for (const [file, name] of proofs) {
        const source = readFileSync(join(packageRoot, file), 'utf8');
        if (!source.includes(name)) missing.push(`${key}: ${file} has no test "${name}"`);
      }
    }
    assert.deepEqual(missing, []);
  });
});
