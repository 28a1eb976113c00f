import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collapseRepeats } from '../helpers/pm2.js';

// The failure messages of the pm2 tests show pm2's log; its ten-a-second retry lines are kept once.
test('collapseRepeats keeps a run of lines that differ only in their timestamp once, with its count and last time', () => {
  const lines = [
    '2026-12-02T11:59:49: PM2 log: App [gatehouse-proxy:1] starting in -cluster mode-',
    '2026-12-02T11:59:50: PM2 log: pid=31014 msg=failed to kill - retrying in 100ms',
    '2026-12-02T11:59:50: PM2 log: pid=31014 msg=failed to kill - retrying in 100ms',
    '2026-12-02T11:59:51: PM2 log: pid=31014 msg=failed to kill - retrying in 100ms',
    '2026-12-02T11:59:51: PM2 log: App [gatehouse-proxy:_old_1] exited with code [0] via signal [SIGINT]',
    'plain',
    'plain',
  ];
  assert.deepEqual(collapseRepeats(lines), [
    lines[0],
    lines[1],
    '  (the line above 2 more times, the last at 2026-12-02T11:59:51)',
    lines[4],
    'plain',
    '  (the line above 1 more times)',
  ]);
  assert.deepEqual(collapseRepeats(['a', 'b']), ['a', 'b']);
});
