/** nginx-style durations ("500ms", "60s", "5m", "1h", bare number = ms) and sizes ("16k", "1m", "1g"). */

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE = /^(\d+)([kKmMgG])?$/;
const SIZE_BYTES: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

export const durationPattern = DURATION.source;
export const sizePattern = SIZE.source;

/** Milliseconds, or null when the value is not a duration. */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const m = DURATION.exec(value.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * DURATION_MS[m[2] ?? 'ms']!);
}

/** Bytes, or null when the value is not a size. */
export function parseSize(value: unknown): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const m = SIZE.exec(value.trim());
  if (!m) return null;
  return Number(m[1]) * (m[2] ? SIZE_BYTES[m[2].toLowerCase()]! : 1);
}

/** The nginx spelling of a duration in ms: whole seconds as "60s", else "500ms". */
export function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The nginx spelling of a size in bytes: "1m", "16k", or a byte count. */
export function formatSize(bytes: number): string {
  if (bytes > 0 && bytes % SIZE_BYTES.g! === 0) return `${bytes / SIZE_BYTES.g!}g`;
  if (bytes > 0 && bytes % SIZE_BYTES.m! === 0) return `${bytes / SIZE_BYTES.m!}m`;
  if (bytes > 0 && bytes % SIZE_BYTES.k! === 0) return `${bytes / SIZE_BYTES.k!}k`;
  return String(bytes);
}
