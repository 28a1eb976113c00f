import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseH2load } from '../../bench/load/h2load.js';
import { formatTlsTable, type TlsSample, tlsRows } from '../../bench/tls-bench.js';

// The pure parts of `npm run bench -- --tls`: h2load's summary read right, medians and ratios.

const H2LOAD_OUTPUT = `starting benchmark...
spawning thread #0: 10 total client(s). Timing-based test with 0s of warm-up time and 2s of main duration for measurements.
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.

finished in 2.00s, 2444.50 req/s, 95.80KB/s
requests: 4889 total, 4989 started, 4889 done, 4880 succeeded, 9 failed, 9 errored, 0 timeout
status codes: 4870 2xx, 0 3xx, 10 4xx, 0 5xx
traffic: 191.60KB (196198) total, 57.30KB (58668) headers (space savings 94.17%), 47.74KB (48890) data
`;

describe('bench --tls', () => {
  test("h2load's summary: req/s, completed requests, failures and non-2xx", () => {
    assert.deepEqual(parseH2load(H2LOAD_OUTPUT), {
      requests: 4880,
      seconds: 2,
      rps: 2444.5,
      failed: 9,
      non2xx: 10,
    });
    assert.throws(() => parseH2load('no summary'), /unexpected h2load output/);
  });

  test('rows hold the median of the rounds per front, the ratio of ours and of bare Node to nginx', () => {
    // CPU per request as if each front spent one second of CPU per round.
    const sample = (front: TlsSample['front'], rps: number, round: number): TlsSample => ({
      round,
      load: 'h2',
      front,
      requests: rps,
      rps,
      cpuPerRequest: 1e6 / rps,
      errors: 0,
    });
    const samples = [sample('nginx', 1000, 1), sample('nginx', 3000, 2), sample('nginx', 2000, 3)];
    const onlyNginx = tlsRows(samples).find((row) => row.load === 'h2')!;
    assert.deepEqual(onlyNginx.rps, { gatehouse: null, nginx: 2000, node: null });
    assert.equal(onlyNginx.ratio, null);
    assert.equal(onlyNginx.ceiling, null);
    // Ratios within each round (0.5, 0.2, 0.25), then their median: not 1000 / 2000 of the medians.
    const both = tlsRows([
      ...samples,
      sample('gatehouse', 500, 1),
      sample('gatehouse', 600, 2),
      sample('gatehouse', 500, 3),
    ]);
    const row = both.find((r) => r.load === 'h2')!;
    assert.equal(row.rps.gatehouse, 500);
    assert.equal(row.ratio, 0.25);
    // CPU µs per request: medians per front, and nginx's over ours within each round, then the median.
    assert.deepEqual(row.cpu, { gatehouse: 2000, nginx: 500, node: null });
    assert.equal(row.cpuRatio, 0.25);
    const noPid = tlsRows([...samples, { ...sample('gatehouse', 500, 1), cpuPerRequest: null }]);
    assert.equal(noPid.find((r) => r.load === 'h2')!.cpuRatio, null);
    const withNode = tlsRows([...samples, sample('node', 1000, 1), sample('node', 1500, 2)]);
    assert.equal(withNode.find((r) => r.load === 'h2')!.ceiling, (1 + 0.5) / 2);
    const table = formatTlsTable({
      samples,
      rows: tlsRows(samples),
      skipped: { gatehouse: 'no TLS listener' },
    });
    assert.match(
      table,
      /\| HTTP\/2, 20 connections x 5 streams, 18000 requests, req\/s \(h2load\) \| — \| 2000 \| — \| — \| — \| — \| 500 \| — \| 0 \|/,
    );
    assert.match(table, /gatehouse: not measured — no TLS listener/);
  });
});
