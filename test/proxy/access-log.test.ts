import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  type AccessEntry,
  createAccessLog,
  formatCombined,
  formatJson,
  formatTerminal,
} from '../../proxy/access-log.js';

// $time_local is local time; pin the zone so the expected lines are fixed. Node re-reads TZ on change.
process.env.TZ = 'UTC';

/** 22/Nov/2026:14:12:04 UTC, the second the nginx reference lines below were logged. */
const NGINX_SECOND = Date.UTC(2026, 10, 22, 14, 12, 4);

/** The file's lines once it has at least `count` (polled for up to 5 s, then whatever is there). */
async function linesOf(path: string, count: number): Promise<string[]> {
  let lines: string[] = [];
  for (let i = 0; i < 100; i++) {
    try {
      lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    } catch {}
    if (lines.length >= count) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return lines;
}

/** A path in a temp directory of its own, removed after the test. */
function tempFile(t: { after(fn: () => void): void }, name = 'access.log'): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-access-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

function entry(overrides: Partial<AccessEntry> = {}): AccessEntry {
  return {
    remoteAddr: '127.0.0.1',
    method: 'GET',
    url: '/',
    httpVersion: '1.1',
    status: 200,
    bytesSent: 6,
    referer: undefined,
    userAgent: undefined,
    requestId: 'rid-1',
    upstream: '127.0.0.1:8001',
    requestTime: 0.012,
    upstreamTime: 0.011,
    ...overrides,
  };
}

/**
 * Lines real nginx 1.22.1 wrote with `access_log ... combined` for the same requests (captured
 * with a `return 200 "hello\n"` location, so $body_bytes_sent is 6). Header values and the URL
 * are written here the way Node hands them over: each byte as one latin1 character.
 */
const NGINX_REFERENCE: Array<[string, Partial<AccessEntry>, string]> = [
  [
    'plain request with referer and user agent',
    { url: '/index.html?q=1', referer: 'http://ref.example/a', userAgent: 'curl/8.0' },
    '127.0.0.1 - - [22/Nov/2026:14:12:04 +0000] "GET /index.html?q=1 HTTP/1.1" 200 6 "http://ref.example/a" "curl/8.0"\n',
  ],
  [
    'absent referer and user agent are "-"',
    { url: '/old', httpVersion: '1.0' },
    '127.0.0.1 - - [22/Nov/2026:14:12:04 +0000] "GET /old HTTP/1.0" 200 6 "-" "-"\n',
  ],
  [
    'a quote and a backslash are escaped as \\xHH with upper-case hex',
    { userAgent: 'a"b\\c' },
    '127.0.0.1 - - [22/Nov/2026:14:12:04 +0000] "GET / HTTP/1.1" 200 6 "-" "a\\x22b\\x5Cc"\n',
  ],
  [
    'control characters and DEL are escaped with upper-case hex',
    { userAgent: 'ctl\u0001\u001b\u007fend' },
    '127.0.0.1 - - [22/Nov/2026:14:12:04 +0000] "GET / HTTP/1.1" 200 6 "-" "ctl\\x01\\x1B\\x7Fend"\n',
  ],
  [
    'a tab is escaped',
    { url: '/tab', userAgent: 'a\tb' },
    '127.0.0.1 - - [22/Nov/2026:14:12:04 +0000] "GET /tab HTTP/1.1" 200 6 "-" "a\\x09b"\n',
  ],
  [
    'a header byte above 0x7F is escaped, not written as UTF-8',
    { userAgent: 'caf\u00e9' },
    '127.0.0.1 - - [22/Nov/2026:14:12:04 +0000] "GET / HTTP/1.1" 200 6 "-" "caf\\xE9"\n',
  ],
  [
    'a header sent empty is logged as "" (only an absent one is "-")',
    { referer: '', userAgent: '' },
    '127.0.0.1 - - [22/Nov/2026:14:12:04 +0000] "GET / HTTP/1.1" 200 6 "" ""\n',
  ],
];

describe('combined format, byte for byte as nginx writes it', () => {
  for (const [name, overrides, expected] of NGINX_REFERENCE) {
    test(name, () => {
      assert.equal(formatCombined(entry(overrides), NGINX_SECOND), expected);
    });
  }

  test('$time_local carries the local zone offset', () => {
    process.env.TZ = 'Asia/Kolkata';
    try {
      // A different second from the other tests: the formatter caches one second's timestamp.
      const line = formatCombined(entry(), Date.UTC(2026, 0, 5, 3, 4, 5));
      assert.match(line, / \[05\/Jan\/2026:08:34:05 \+0530\] /);
    } finally {
      process.env.TZ = 'UTC';
    }
  });

  test("the remote address, status and byte count are the entry's", () => {
    const line = formatCombined(
      entry({ remoteAddr: '203.0.113.7', status: 502, bytesSent: 0 }),
      NGINX_SECOND + 1000,
    );
    assert.match(
      line,
      /^203\.0\.113\.7 - - \[22\/Nov\/2026:14:12:05 \+0000\] "GET \/ HTTP\/1\.1" 502 0 "-" "-"\n$/,
    );
  });

  test('a request line with a quote cannot end the quoted field early', () => {
    const line = formatCombined(entry({ url: '/a" 200 1 "x' }), NGINX_SECOND);
    assert.equal(line.split('"').length - 1, 6, 'exactly three quoted fields');
    assert.match(line, /"GET \/a\\x22 200 1 \\x22x HTTP\/1\.1"/);
  });
});

describe('json format', () => {
  test('one JSON object per line with the nginx variable names', () => {
    const line = formatJson(
      entry({ referer: 'http://r.example/', userAgent: 'ua "quoted"\n', status: 201, bytesSent: 42 }),
      NGINX_SECOND,
    );
    assert.ok(line.endsWith('\n'));
    assert.equal(line.indexOf('\n'), line.length - 1, 'a newline in a value must not split the line');
    assert.deepEqual(JSON.parse(line), {
      time: '2026-11-22T14:12:04.000Z',
      remote_addr: '127.0.0.1',
      request_id: 'rid-1',
      method: 'GET',
      uri: '/',
      protocol: 'HTTP/1.1',
      status: 201,
      body_bytes_sent: 42,
      referer: 'http://r.example/',
      user_agent: 'ua "quoted"\n',
      upstream: '127.0.0.1:8001',
      request_time: 0.012,
      upstream_response_time: 0.011,
    });
  });

  test('a request that reached no upstream has an empty upstream and a null upstream time', () => {
    const parsed = JSON.parse(
      formatJson(entry({ upstream: null, upstreamTime: null }), NGINX_SECOND),
    ) as Record<string, unknown>;
    assert.equal(parsed.upstream, '');
    assert.equal(parsed.upstream_response_time, null);
    assert.equal(parsed.referer, '');
    assert.equal(parsed.user_agent, '');
  });
});

describe('createAccessLog', () => {
  test('"off" means no log object at all', () => {
    assert.equal(createAccessLog({ format: 'combined', path: 'off' }), null);
  });

  test('writes formatted lines to the file, in order, and closes', async (t) => {
    const path = tempFile(t, join('logs', 'access.log'));
    const log = createAccessLog({ format: 'json', path });
    assert.ok(log);
    for (let i = 0; i < 3; i++) log.write(entry({ url: `/n${i}` }));
    log.close();
    // The destination writes asynchronously; close() ends it, the bytes land shortly after.
    const lines = await linesOf(path, 3);
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { uri: string }).uri),
      ['/n0', '/n1', '/n2'],
    );
  });

  test("combined lines in the file are the formatter's bytes", async (t) => {
    const path = tempFile(t);
    const log = createAccessLog({ format: 'combined', path });
    assert.ok(log);
    log.write(entry({ userAgent: 'agent/1.0' }));
    log.flush();
    const text = (await linesOf(path, 1)).join('\n');
    log.close();
    assert.match(`${text}\n`, /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/ HTTP\/1\.1" 200 6 "-" "agent\/1\.0"\n$/);
  });

  test('reopen(): lines still buffered go to the renamed file, later ones to a new file at the path', async (t) => {
    const path = tempFile(t);
    const log = createAccessLog({ format: 'json', path });
    assert.ok(log);
    log.write(entry({ url: '/written' }));
    log.flush();
    await linesOf(path, 1);
    // Under 4 KiB and within the second: these two are still in memory when the file is renamed.
    log.write(entry({ url: '/held-1' }));
    log.write(entry({ url: '/held-2' }));
    renameSync(path, `${path}.1`);
    log.reopen();
    log.write(entry({ url: '/new' }));
    log.close();
    const uris = async (file: string, count: number) =>
      (await linesOf(file, count)).map((l) => (JSON.parse(l) as { uri: string }).uri);
    assert.deepEqual(await uris(`${path}.1`, 3), ['/written', '/held-1', '/held-2']);
    assert.deepEqual(await uris(path, 1), ['/new']);
  });

  test('to a terminal each request is one readable line (method, path, status, time, worker), whatever the format', () => {
    const written: string[] = [];
    const terminal = { isTTY: true, write: (text: string) => written.push(text) };
    const log = createAccessLog({ format: 'combined', path: 'stdout' }, terminal);
    assert.ok(log);
    log.write(entry({ method: 'POST', url: '/signin', status: 303, requestTime: 0.0042 }));
    log.close();
    assert.deepEqual(written, [
      formatTerminal(entry({ method: 'POST', url: '/signin', status: 303, requestTime: 0.0042 })),
    ]);
    assert.match(written[0] ?? '', /^\d\d:\d\d:\d\d POST \/signin → 303 in 4\.2 ms by 127\.0\.0\.1:8001\n$/);
  });

  test("under pm2's cluster mode (stdout.write replaced) lines go through that write, batched, in the configured format", () => {
    const written: string[] = [];
    // pm2's ProcessContainer swaps the instance's write for its own: the prototype's stays Node's.
    const stdout = Object.create({ write: () => true }) as { write(text: string): boolean };
    stdout.write = (text: string) => written.push(text) > 0;
    const log = createAccessLog({ format: 'json', path: 'stdout' }, stdout);
    assert.ok(log);
    log.write(entry({ url: '/a' }));
    log.write(entry({ url: '/b' }));
    assert.deepEqual(written, [], 'batched until 4 KiB, a second, or a flush');
    log.flush();
    assert.deepEqual(
      written
        .join('')
        .trimEnd()
        .split('\n')
        .map((line) => (JSON.parse(line) as { uri: string }).uri),
      ['/a', '/b'],
    );
    log.write(entry({ url: '/c' }));
    log.close();
    assert.match(written.at(-1) ?? '', /"uri":"\/c"/);
  });
});
