import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CompressionConfig } from '../../config/index.js';
import { renderCompression } from '../../nginx/render-compression.js';
import {
  brotliWindow,
  type CompressionRequest,
  compressedHead,
  decideCompression,
  negotiateCoding,
} from '../../proxy/compression/index.js';
import { testConfig } from '../helpers/proxy.js';

/** Unit tests of the compression steps (proxy/compression/): plain functions, no sockets. */

describe('Accept-Encoding negotiation', () => {
  const cases: Array<[string | undefined, string | null]> = [
    [undefined, null],
    ['', null],
    ['identity', null],
    ['gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, deflate, br', 'br'],
    ['gzip;q=1, br;q=1', 'br'],
    ['gzip;q=1.0, br;q=0.5', 'gzip'],
    ['gzip, br;q=0', 'gzip'],
    ['gzip;q=0', null],
    ['br;q=0, gzip;q=0', null],
    ['*', 'br'],
    ['*;q=0.5, gzip', 'gzip'],
    ['*;q=0', null],
    ['br;q=0, *', 'gzip'],
    ['deflate', null],
    ['gzip;q=0.001', 'gzip'],
    ['gzip ; q=0.8 , br ; q=0.7', 'gzip'],
    // A malformed q is ignored, not guessed at.
    ['br;q=2, gzip', 'gzip'],
    ['br;q=abc', null],
    ['gzip;q=0.0001', null],
    // The first entry for a coding counts.
    ['gzip;q=0, gzip;q=1', null],
  ];
  for (const [header, expected] of cases) {
    test(`${JSON.stringify(header)} → ${expected ?? 'identity'}`, () => {
      assert.equal(negotiateCoding(header), expected);
    });
  }
});

const CONFIG: CompressionConfig = {
  types: ['text/html', 'text/plain', 'application/json'],
  minLength: 100,
  level: 5,
};
const GET: CompressionRequest = {
  method: 'GET',
  httpVersion: '1.1',
  acceptEncoding: 'gzip, br',
  range: false,
};
const TEXT = ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', '5000'];

describe('whether a proxied response is compressed', () => {
  test('a listed type of at least min_length, to a client that accepts br: br, with Vary', () => {
    assert.deepEqual(decideCompression(CONFIG, GET, 200, TEXT), { coding: 'br', vary: true });
  });

  test('the type is matched without its parameters, in any case; "*" matches every type', () => {
    const json = ['content-type', 'Application/JSON;charset=utf-8'];
    assert.equal(decideCompression(CONFIG, GET, 200, json).coding, 'br');
    const image = ['Content-Type', 'image/png'];
    assert.deepEqual(decideCompression(CONFIG, GET, 200, image), { coding: null, vary: false });
    assert.equal(decideCompression({ ...CONFIG, types: ['*'] }, GET, 200, image).coding, 'br');
  });

  test('a response without Content-Type, or of text/event-stream (not listed), is left as it is', () => {
    assert.deepEqual(decideCompression(CONFIG, GET, 200, ['Content-Length', '5000']), {
      coding: null,
      vary: false,
    });
    const events = ['Content-Type', 'text/event-stream'];
    assert.deepEqual(decideCompression(CONFIG, GET, 200, events), { coding: null, vary: false });
  });

  test('Content-Length below min_length is left as it is; at min_length, or chunked (no length), compressed', () => {
    const sized = (length: number) => ['Content-Type', 'text/plain', 'Content-Length', String(length)];
    assert.deepEqual(decideCompression(CONFIG, GET, 200, sized(99)), { coding: null, vary: false });
    assert.equal(decideCompression(CONFIG, GET, 200, sized(100)).coding, 'br');
    assert.equal(decideCompression(CONFIG, GET, 200, ['Content-Type', 'text/plain']).coding, 'br');
  });

  test('never: already encoded, no-transform, statuses other than 200/403/404, compression off', () => {
    const none = { coding: null, vary: false };
    assert.deepEqual(decideCompression(CONFIG, GET, 200, [...TEXT, 'Content-Encoding', 'gzip']), none);
    assert.deepEqual(
      decideCompression(CONFIG, GET, 200, [...TEXT, 'Cache-Control', 'public, no-transform']),
      none,
    );
    for (const status of [204, 206, 301, 304, 500])
      assert.deepEqual(decideCompression(CONFIG, GET, status, TEXT), none, String(status));
    for (const status of [403, 404]) assert.equal(decideCompression(CONFIG, GET, status, TEXT).coding, 'br');
    assert.deepEqual(decideCompression(null, GET, 200, TEXT), none);
  });

  test('a HEAD is decided as its GET would be (its head says what a GET gets)', () => {
    assert.deepEqual(decideCompression(CONFIG, { ...GET, method: 'HEAD' }, 200, TEXT), {
      coding: 'br',
      vary: true,
    });
  });

  test('a Range request, an HTTP/1.0 client or one that accepts no coding: not compressed, but Vary', () => {
    const varyOnly = { coding: null, vary: true };
    assert.deepEqual(decideCompression(CONFIG, { ...GET, range: true }, 200, TEXT), varyOnly);
    assert.deepEqual(decideCompression(CONFIG, { ...GET, httpVersion: '1.0' }, 200, TEXT), varyOnly);
    assert.deepEqual(decideCompression(CONFIG, { ...GET, acceptEncoding: undefined }, 200, TEXT), varyOnly);
    assert.deepEqual(decideCompression(CONFIG, { ...GET, acceptEncoding: 'gzip;q=0' }, 200, TEXT), varyOnly);
  });
});

describe('the compressed response head', () => {
  test('loses Content-Length and Accept-Ranges, gains Content-Encoding and Vary; a strong ETag turns weak', () => {
    const head = [...TEXT, 'Accept-Ranges', 'bytes', 'ETag', '"abc"', 'X-Request-Id', 'r1'];
    assert.deepEqual(compressedHead(head, { coding: 'gzip', vary: true }), [
      'Content-Type',
      'text/plain; charset=utf-8',
      'ETag',
      'W/"abc"',
      'X-Request-Id',
      'r1',
      'Vary',
      'Accept-Encoding',
      'Content-Encoding',
      'gzip',
    ]);
  });

  test('a weak ETag stays as it is', () => {
    const head = compressedHead(['ETag', 'W/"abc"'], { coding: 'br', vary: true });
    assert.deepEqual(head, ['ETag', 'W/"abc"', 'Vary', 'Accept-Encoding', 'Content-Encoding', 'br']);
  });

  test("Accept-Encoding joins the worker's first Vary line, unless a line already covers it", () => {
    const vary = (lines: string[]) =>
      compressedHead(
        lines.flatMap((line) => ['Vary', line]),
        { coding: null, vary: true },
      );
    assert.deepEqual(vary(['Cookie', 'Origin']), ['Vary', 'Cookie, Accept-Encoding', 'Vary', 'Origin']);
    assert.deepEqual(vary(['Cookie', 'accept-encoding']), ['Vary', 'Cookie', 'Vary', 'accept-encoding']);
    assert.deepEqual(vary(['*']), ['Vary', '*']);
    assert.deepEqual(vary(['Origin, Accept-Encoding']), ['Vary', 'Origin, Accept-Encoding']);
  });

  test('Vary only (not compressed): the body framing and ETag are untouched', () => {
    assert.deepEqual(compressedHead([...TEXT, 'ETag', '"x"'], { coding: null, vary: true }), [
      ...TEXT,
      'ETag',
      '"x"',
      'Vary',
      'Accept-Encoding',
    ]);
  });
});

describe("brotli's window", () => {
  test('the smallest that holds a body of known length (10 to 19 bits), 512 KiB when the length is unknown', () => {
    assert.equal(brotliWindow(null), 19);
    assert.equal(brotliWindow(0), 10);
    assert.equal(brotliWindow(1024), 10);
    assert.equal(brotliWindow(1025), 11);
    assert.equal(brotliWindow(17_354), 15);
    assert.equal(brotliWindow(512 * 1024), 19);
    assert.equal(brotliWindow(50 * 1024 * 1024), 19);
  });
});

describe('compression config', () => {
  test('the embedded default compresses text types (text/event-stream not among them), at level 5 from 256 bytes', () => {
    const { compression } = testConfig();
    assert.ok(compression);
    for (const type of [
      'text/html',
      'text/css',
      'text/plain',
      'application/javascript',
      'application/json',
      'image/svg+xml',
    ])
      assert.ok(compression.types.includes(type), type);
    assert.ok(!compression.types.includes('text/event-stream'));
    assert.equal(compression.minLength, 256);
    assert.equal(compression.level, 5);
  });

  test('null turns it off; keys given are merged over the default; text/html is always compressed', () => {
    assert.equal(testConfig({ compression: null }).compression, null);
    const merged = testConfig({ compression: { level: 9, min_length: '1k' } }).compression;
    assert.equal(merged?.level, 9);
    assert.equal(merged?.minLength, 1024);
    assert.ok(merged?.types.includes('text/css'));
    const own = testConfig({ compression: { types: ['Application/JSON'] } }).compression;
    assert.deepEqual(own?.types, ['text/html', 'application/json']);
  });

  test('bad values are refused with their key paths, every one in one pass', () => {
    assert.throws(
      () => testConfig({ compression: { level: 11, min_length: 'lots', types: ['text'], gzip: true } }),
      (err: Error) => {
        for (const path of [
          'compression.level',
          'compression.min_length',
          'compression.types.0',
          'compression.gzip',
        ])
          assert.match(err.message, new RegExp(path.replaceAll('.', '\\.')), err.message);
        return true;
      },
    );
  });

  test('nginx gets gzip on with the types (text/html left to nginx), min length, level, vary and proxied any', () => {
    const lines = renderCompression(
      testConfig({ compression: { types: ['text/html', 'text/css'], min_length: '1k', level: 6 } }),
    );
    assert.deepEqual(
      lines.filter((line) => line.startsWith('gzip')),
      [
        'gzip on;',
        'gzip_types text/css;',
        'gzip_min_length 1k;',
        'gzip_comp_level 6;',
        'gzip_vary on;',
        'gzip_proxied any;',
      ],
    );
    assert.ok(renderCompression(testConfig({ compression: null })).includes('gzip off;'));
  });
});
