/** The part of a file a Range header asks for: bytes start..end, both inclusive. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * A `Range: bytes=…` header read against a file of `size` bytes, as nginx's range filter reads it:
 * null for no range (another unit, or several ranges — nginx would send multipart/byteranges, we
 * send the whole file, which RFC 9110 §14.2 allows); `unsatisfiable` (→ 416 with
 * `Content-Range: bytes *\/size`) when it starts past the end, ends before it starts or cannot be
 * read at all (nginx answers a malformed `bytes=` range 416 too, where RFC 9110 would ignore it).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (header === undefined || !/^bytes=/i.test(header)) return null;
  if (header.includes(',')) return null;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return 'unsatisfiable';
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return 'unsatisfiable';
  if (first === '') {
    // A suffix: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return 'unsatisfiable';
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
