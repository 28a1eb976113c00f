import type { CompressionPlan } from './decide.js';

/** A Vary value that already covers Accept-Encoding. */
const VARIES = /(?:^|,)\s*(?:\*|accept-encoding)\s*(?:,|$)/i;

/**
 * The response head as the plan makes it (a new flat [name, value, ...] list): Vary names
 * Accept-Encoding (appended to the worker's first Vary line unless one already covers it); a
 * compressed body gets Content-Encoding, loses Content-Length (it goes chunked) and Accept-Ranges
 * (ranges of the encoded body are not offered), and a strong ETag becomes weak — the bytes
 * differ, the content does not (nginx does the same).
 */
export function compressedHead(headers: readonly string[], plan: CompressionPlan): string[] {
  const out: string[] = [];
  let varied =
    !plan.vary || headers.some((value, i) => i % 2 === 1 && isVary(headers[i - 1]!) && VARIES.test(value));
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    let value = headers[i + 1]!;
    const lower = name.toLowerCase();
    if (plan.coding !== null) {
      if (lower === 'content-length' || lower === 'accept-ranges') continue;
      if (lower === 'etag' && !value.startsWith('W/')) value = `W/${value}`;
    }
    if (!varied && lower === 'vary') {
      value = value.trim() === '' ? 'Accept-Encoding' : `${value}, Accept-Encoding`;
      varied = true;
    }
    out.push(name, value);
  }
  if (!varied) out.push('Vary', 'Accept-Encoding');
  if (plan.coding !== null) out.push('Content-Encoding', plan.coding);
  return out;
}

function isVary(name: string): boolean {
  return name.toLowerCase() === 'vary';
}
