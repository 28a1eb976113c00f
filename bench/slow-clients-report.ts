import type { BufferMemoryResult } from './buffer-memory.js';
import type { SlowFrontResult } from './slow-clients.js';

/** Nearest-rank percentile; an unanswered request (null) counts as longer than any answer. */
function percentile(values: ReadonlyArray<number | null>, p: number): number | null {
  if (values.length === 0) return Number.NaN;
  const sorted = values.map((v) => v ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const value = sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return Number.isFinite(value) ? value : null;
}

function ms(value: number | null): string {
  if (value === null) return 'timeout';
  if (Number.isNaN(value)) return '-';
  return value < 1000 ? `${value.toFixed(0)} ms` : `${(value / 1000).toFixed(1)} s`;
}

const pad = (text: string, width: number) => text.padEnd(width);

export function formatSlowClients(rows: readonly SlowFrontResult[]): string {
  const header = [
    'front',
    'GET / p50',
    'GET / p99',
    'answered',
    'uploads ok',
    'worker busy per slow response',
  ];
  const widths = [26, 11, 11, 10, 11, 0];
  const lines = [header.map((h, i) => pad(h, widths[i]!)).join(' ')];
  for (const row of rows) {
    const answered = row.gets.filter((g) => g !== null).length;
    const cells = [
      row.front,
      ms(percentile(row.gets, 50)),
      ms(percentile(row.gets, 99)),
      `${answered}/${row.gets.length + row.getErrors}`,
      String(row.uploadsOk),
      row.busyMs.length > 0 ? row.busyMs.map((b) => ms(b)).join(', ') : 'not finished',
    ];
    lines.push(cells.map((c, i) => pad(c, widths[i]!)).join(' '));
  }
  return lines.join('\n');
}

export function formatBufferMemory(result: BufferMemoryResult): string {
  const growth = result.rssPeakMb - result.rssBeforeMb;
  return [
    `buffering memory: ${result.uploads} concurrent uploads of 10 MB through our proxy (buffering on)`,
    `  answered 2xx ${result.ok}, 503 ${result.unavailable}, failed ${result.failed}, in ${result.seconds.toFixed(1)} s`,
    `  proxy RSS: ${result.rssBeforeMb.toFixed(0)} MB before, peak ${result.rssPeakMb.toFixed(0)} MB (+${growth.toFixed(0)} MB)`,
    `  temp files: peak ${result.tempPeakMb.toFixed(0)} MB in ${result.tempPath}`,
  ].join('\n');
}
