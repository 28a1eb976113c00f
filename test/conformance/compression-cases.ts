import assert from 'node:assert/strict';
import { gunzipSync, gzipSync } from 'node:zlib';
import { headerValue, headerValues } from '../helpers/raw-backend.js';
import { type ConformanceCase, describe, send } from './case.js';

/**
 * Compression at the front (issue 17) on both fronts: our proxy, and nginx's gzip as rendered
 * from `compression:` (on in the default config the suite starts from). nginx open source has no
 * brotli, so these cases only ever ask for gzip; br is tested on our proxy alone
 * (test/compression/proxy.test.ts). The recording backend answers text/plain, a listed type.
 */
const TEXT = Buffer.from(
  Array.from({ length: 200 }, (_, i) => `line ${i}: the same words again and again\n`).join(''),
);
const ENCODED = gzipSync('already gzipped by the worker\n'.repeat(50));

/** Whether some Vary line of the response names Accept-Encoding. */
const variesByEncoding = (response: Parameters<typeof headerValues>[0]) =>
  headerValues(response, 'vary').some((value) => /(^|,)\s*accept-encoding\s*(,|$)/i.test(value));

export const compressionCases: ConformanceCase[] = [
  {
    name: 'compression: Accept-Encoding gzip gets Content-Encoding gzip and Vary: Accept-Encoding; the body decodes to what the worker sent',
    backends: [{ kind: 'raw', answer: { body: TEXT } }],
    async check(env) {
      const response = await send(env, { headers: ['Accept-Encoding: gzip'] });
      assert.equal(response.status, 200, describe(response));
      assert.equal(headerValue(response, 'content-encoding'), 'gzip', describe(response));
      assert.ok(variesByEncoding(response), describe(response));
      assert.equal(headerValue(response, 'content-length'), undefined, describe(response));
      assert.ok(response.body.length < TEXT.length / 4, `${response.body.length} bytes for ${TEXT.length}`);
      assert.deepEqual(gunzipSync(response.body), TEXT);
    },
  },
  {
    name: 'compression: without Accept-Encoding, or with gzip;q=0, the body goes as it is with its Content-Length (Vary still says it could differ)',
    backends: [{ kind: 'raw', answer: { body: TEXT } }],
    async check(env) {
      for (const headers of [[], ['Accept-Encoding: gzip;q=0']]) {
        const response = await send(env, { headers });
        assert.equal(response.status, 200, describe(response));
        assert.equal(headerValue(response, 'content-encoding'), undefined, describe(response));
        assert.equal(headerValue(response, 'content-length'), String(TEXT.length), describe(response));
        assert.ok(variesByEncoding(response), describe(response));
        assert.deepEqual(response.body, TEXT);
      }
    },
  },
  {
    name: "compression: a worker's already encoded answer passes through byte for byte",
    backends: [{ kind: 'raw', answer: { body: ENCODED, headers: { 'Content-Encoding': 'gzip' } } }],
    async check(env) {
      const response = await send(env, { headers: ['Accept-Encoding: gzip'] });
      assert.equal(response.status, 200, describe(response));
      assert.deepEqual(headerValues(response, 'content-encoding'), ['gzip'], describe(response));
      assert.deepEqual(response.body, ENCODED);
    },
  },
  {
    name: "compression: a Range request's 206 goes untouched",
    backends: [
      {
        kind: 'raw',
        answer: (request) =>
          headerValue(request, 'range') === 'bytes=0-99'
            ? {
                status: 206,
                body: TEXT.subarray(0, 100),
                headers: { 'Content-Range': `bytes 0-99/${TEXT.length}` },
              }
            : { body: TEXT },
      },
    ],
    async check(env) {
      const response = await send(env, { headers: ['Accept-Encoding: gzip', 'Range: bytes=0-99'] });
      assert.equal(response.status, 206, describe(response));
      assert.equal(headerValue(response, 'content-encoding'), undefined, describe(response));
      assert.equal(headerValue(response, 'content-range'), `bytes 0-99/${TEXT.length}`, describe(response));
      assert.deepEqual(response.body, TEXT.subarray(0, 100));
    },
  },
  {
    name: 'compression: HEAD gets the head its GET would get (Content-Encoding gzip, no Content-Length) and no body',
    backends: [{ kind: 'raw', answer: { body: TEXT } }],
    async check(env) {
      const response = await send(env, { method: 'HEAD', headers: ['Accept-Encoding: gzip'] });
      assert.equal(response.status, 200, describe(response));
      assert.equal(headerValue(response, 'content-encoding'), 'gzip', describe(response));
      assert.ok(variesByEncoding(response), describe(response));
      assert.equal(headerValue(response, 'content-length'), undefined, describe(response));
      assert.equal(response.body.length, 0, describe(response));
    },
  },
  {
    name: 'compression: a body shorter than min_length goes as it is',
    backends: [{ kind: 'raw', answer: { body: TEXT } }],
    overrides: { compression: { min_length: TEXT.length + 1 } },
    async check(env) {
      const response = await send(env, { headers: ['Accept-Encoding: gzip'] });
      assert.equal(response.status, 200, describe(response));
      assert.equal(headerValue(response, 'content-encoding'), undefined, describe(response));
      assert.deepEqual(response.body, TEXT);
    },
  },
];
