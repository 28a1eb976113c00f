import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cacheHeaders } from '../../proxy/static/cache-control.js';
import { contentTypeOf } from '../../proxy/static/content-type.js';
import { acceptedEncodings } from '../../proxy/static/encoding.js';
import { parseRange } from '../../proxy/static/range.js';
import { conditionalStatus, etagOf, ifRangeHolds, lastModifiedOf } from '../../proxy/static/validators.js';

const file = { size: 16384, mtimeSeconds: 1_700_000_000 };
const etag = etagOf(file);
const date = lastModifiedOf(file);

describe('static files: the HTTP rules, as nginx applies them', () => {
  test("ETag is nginx's: mtime and size in hex, strong", () => {
    assert.equal(etag, '"6553f100-4000"');
    assert.equal(date, 'Tue, 14 Nov 2023 22:13:20 GMT');
  });

  test('If-None-Match: the ETag (in a list, weak, or *) → 304; another → 200', () => {
    assert.equal(conditionalStatus({ 'if-none-match': etag }, file), 304);
    assert.equal(conditionalStatus({ 'if-none-match': `"x", W/${etag}` }, file), 304);
    assert.equal(conditionalStatus({ 'if-none-match': '*' }, file), 304);
    assert.equal(conditionalStatus({ 'if-none-match': '"other"' }, file), 200);
  });

  test('If-Modified-Since matches exactly (nginx if_modified_since exact): a later date is still 200', () => {
    assert.equal(conditionalStatus({ 'if-modified-since': date }, file), 304);
    const later = new Date((file.mtimeSeconds + 60) * 1000).toUTCString();
    assert.equal(conditionalStatus({ 'if-modified-since': later }, file), 200);
    assert.equal(conditionalStatus({ 'if-modified-since': 'not a date' }, file), 200);
  });

  test('both present: 304 only when both agree (nginx checks each)', () => {
    assert.equal(conditionalStatus({ 'if-none-match': etag, 'if-modified-since': date }, file), 304);
    assert.equal(conditionalStatus({ 'if-none-match': '"other"', 'if-modified-since': date }, file), 200);
  });

  test('If-Match and If-Unmodified-Since failing → 412', () => {
    assert.equal(conditionalStatus({ 'if-match': '"other"' }, file), 412);
    assert.equal(conditionalStatus({ 'if-match': etag }, file), 200);
    const earlier = new Date((file.mtimeSeconds - 60) * 1000).toUTCString();
    assert.equal(conditionalStatus({ 'if-unmodified-since': earlier }, file), 412);
  });

  test('If-Range: the range holds for the same ETag or exact date only', () => {
    assert.equal(ifRangeHolds({}, file), true);
    assert.equal(ifRangeHolds({ 'if-range': etag }, file), true);
    assert.equal(ifRangeHolds({ 'if-range': '"old"' }, file), false);
    assert.equal(ifRangeHolds({ 'if-range': date }, file), true);
  });

  test('Range: one range, open end, suffix; past the end unsatisfiable; several or another unit → whole file', () => {
    assert.deepEqual(parseRange('bytes=0-99', 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=900-', 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange('bytes=990-5000', 1000), { start: 990, end: 999 });
    assert.deepEqual(parseRange('bytes=-100', 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange('bytes=-5000', 1000), { start: 0, end: 999 });
    assert.equal(parseRange('bytes=1000-', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=5-2', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=x-y', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-1,5-6', 1000), null);
    assert.equal(parseRange('items=0-1', 1000), null);
    assert.equal(parseRange(undefined, 1000), null);
  });

  test('Accept-Encoding picks br before gzip at equal q, honours q, refuses q=0, and ignores HTTP/1.0', () => {
    const names = (header: string, version = '1.1') =>
      acceptedEncodings({ 'accept-encoding': header }, version).map((p) => p.encoding);
    assert.deepEqual(names('gzip, deflate, br'), ['br', 'gzip']);
    assert.deepEqual(names('br;q=0.5, gzip'), ['gzip', 'br']);
    assert.deepEqual(names('gzip;q=0, br'), ['br']);
    assert.deepEqual(names('*'), []);
    assert.deepEqual(names('gzip', '1.0'), []);
  });

  test('Content-Type from the extension, charset on text, octet-stream otherwise', () => {
    assert.equal(contentTypeOf('/x/site.css'), 'text/css; charset=utf-8');
    assert.equal(contentTypeOf('/x/LOGO.SVG'), 'image/svg+xml');
    assert.equal(contentTypeOf('/x/index.html'), 'text/html; charset=utf-8');
    assert.equal(contentTypeOf('/x/archive.unknown'), 'application/octet-stream');
    assert.equal(contentTypeOf('/x/README'), 'application/octet-stream');
  });

  test('Cache-Control and Expires from expires; immutable added; off sends neither', () => {
    const now = Date.UTC(2026, 0, 1);
    assert.deepEqual(cacheHeaders({ kind: 'static', root: '/', expires: 3_600_000, immutable: true }, now), {
      'Cache-Control': 'max-age=3600, immutable',
      Expires: 'Thu, 01 Jan 2026 01:00:00 GMT',
    });
    assert.deepEqual(cacheHeaders({ kind: 'static', root: '/', expires: null, immutable: false }, now), {});
    assert.deepEqual(cacheHeaders({ kind: 'static', root: '/', expires: null, immutable: true }, now), {
      'Cache-Control': 'immutable',
    });
  });
});
