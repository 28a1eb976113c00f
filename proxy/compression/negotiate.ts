/** The content codings the proxy makes, in the order it prefers them when a client rates them equally. */
export const CODINGS = ['br', 'gzip'] as const;
export type Coding = (typeof CODINGS)[number];

/** RFC 9110 §12.4.2 qvalue: 0 to 1, at most three decimals. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * The coding a response is compressed with for this Accept-Encoding (RFC 9110 §12.5.3), or null
 * for identity. A coding's weight is its own q (x-gzip counts as gzip), else the q of `*`, else it
 * is not acceptable; q=0 refuses. The highest weight wins, br before gzip at equal weight. No
 * header, or an empty one, is identity: a client that did not ask gets the body as it is (nginx
 * too). An entry with a malformed q is ignored rather than guessed at.
 */
export function negotiateCoding(acceptEncoding: string | undefined): Coding | null {
  if (!acceptEncoding) return null;
  const weights = parseAcceptEncoding(acceptEncoding);
  const wildcard = weights.get('*');
  let best: Coding | null = null;
  let bestWeight = 0;
  for (const coding of CODINGS) {
    const weight = weights.get(coding) ?? wildcard ?? 0;
    if (weight > bestWeight) {
      best = coding;
      bestWeight = weight;
    }
  }
  return best;
}

/** Coding (lower case) → weight; a coding listed twice keeps its first entry. */
export function parseAcceptEncoding(header: string): Map<string, number> {
  const weights = new Map<string, number>();
  for (const entry of header.split(',')) {
    const [rawName = '', ...params] = entry.split(';');
    let name = rawName.trim().toLowerCase();
    if (name === '') continue;
    if (name === 'x-gzip') name = 'gzip';
    let weight: number | null = 1;
    for (const param of params) {
      const [key = '', value = ''] = param.split('=').map((part) => part.trim());
      if (key.toLowerCase() !== 'q') continue;
      weight = QVALUE.test(value) ? Number(value) : null;
    }
    if (weight !== null && !weights.has(name)) weights.set(name, weight);
  }
  return weights;
}
