import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatWorkerHeader, parseWorkerHeader, type WorkerReport } from '../../stack/worker-identity.js';

const report: WorkerReport = { hostname: '3f2a1b9c04de', pid: 7, instance: 0, port: 3000, healthProbes: 12 };

describe('the worker header (who answers on an upstream address)', () => {
  test('reads back what a worker writes', () => {
    const header = formatWorkerHeader(report);
    assert.equal(header, 'hostname=3f2a1b9c04de; pid=7; instance=0; port=3000; healthProbes=12');
    assert.deepEqual(parseWorkerHeader(header), report);
  });

  test('takes the fields in any order and spacing', () => {
    assert.deepEqual(
      parseWorkerHeader('healthProbes=12;port=3000 ; instance=0;pid=7;hostname=3f2a1b9c04de'),
      report,
    );
  });

  test('is null when absent, repeated, incomplete, or not what a worker writes', () => {
    for (const value of [
      undefined,
      ['hostname=a; pid=1; instance=0; port=1; healthProbes=0'],
      '',
      'hostname=a; pid=1; instance=0; port=1',
      'hostname=a; pid=-1; instance=0; port=1; healthProbes=0',
      'hostname=a; pid=1.5; instance=0; port=1; healthProbes=0',
      'hostname=<script>; pid=1; instance=0; port=1; healthProbes=0',
      'hostname=; pid=1; instance=0; port=1; healthProbes=0',
    ]) {
      assert.equal(parseWorkerHeader(value), null, String(value));
    }
  });
});
