/**
 * Log lines for a person at a terminal. Files, pipes and containers get JSON (one object a line,
 * for machines); a terminal gets the same events as short sentences, one line each: a request as
 * "12:00:01 GET /signin → 200 in 3.1 ms by worker 1 (host:8002, pid 1821)". Used by the logger and
 * the access log when stdout is a TTY, and by `gatehouse up` for what its processes write.
 */

export interface RequestLineFields {
  /** When it was answered: epoch ms or an ISO string. */
  time: number | string;
  method: string;
  path: string;
  status: number;
  /** Milliseconds from request to answer. */
  ms: number;
  /** Who answered: a worker, an upstream address, or null. */
  by: string | null;
}

/** `12:00:01 GET /signin → 200 in 3.1 ms by worker 1 (vm:8002, pid 1821)` */
export function formatRequestLine(fields: RequestLineFields): string {
  const by = fields.by ? ` by ${fields.by}` : '';
  return `${clock(fields.time)} ${fields.method} ${oneLine(fields.path)} → ${fields.status} in ${duration(fields.ms)}${by}`;
}

/** A pino record: the fields every line has, and whatever the call added. */
type LogRecord = Record<string, unknown>;

// pino's numeric levels; info and below need no word, the rest say what they are.
const LEVELS: Record<number, string> = { 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
// Said by `who` and the time, or not worth a person's attention.
const QUIET_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'instance', 'msg', 'v']);
// nginx's combined format: `addr - - [time] "request" status bytes "referer" "agent"`.
const COMBINED = /^\S+ - \S+ \[[^\]]+\] "/;

/**
 * One line a process wrote, as a person should read it; null when it says nothing a terminal
 * needs. The access log's lines (combined or JSON) are left out: each request already has its
 * line from the worker that answered it, and the proxy logs every answer it makes itself (502,
 * 504, 413...) as a warning or error. Lines that are not JSON pass through as they are.
 */
export function formatLogLine(raw: string): string | null {
  const text = raw.trimEnd();
  if (COMBINED.test(text)) return null;
  const record = parseRecord(text);
  if (record === null) return text;
  if ('request_time' in record && 'uri' in record) return null;
  const who = whoLogged(record);
  if (record.msg === 'request' && isRequest(record)) {
    return formatRequestLine({
      time: timeOf(record),
      method: record.method,
      path: record.path,
      status: record.status,
      ms: typeof record.duration === 'number' ? record.duration : Number.NaN,
      by: who,
    });
  }
  const level = typeof record.level === 'number' ? LEVELS[record.level] : undefined;
  // The proxy's own answers (no upstream, timeout, body too large): a request line with the reason.
  if (
    typeof record.method === 'string' &&
    typeof record.url === 'string' &&
    typeof record.status === 'number'
  ) {
    const reason = typeof record.reason === 'string' ? record.reason : String(record.msg ?? '');
    const code = typeof record.code === 'string' ? ` (${record.code})` : '';
    return `${clock(timeOf(record))} ${record.method} ${oneLine(record.url)} → ${record.status} from the proxy: ${oneLine(reason)}${code}`;
  }
  const head = [clock(timeOf(record)), whoShort(record), level ? `${level}:` : ''].filter(Boolean).join(' ');
  return `${head} ${oneLine(String(record.msg ?? ''))}${details(record)}`.trimEnd();
}

function parseRecord(text: string): LogRecord | null {
  if (!text.startsWith('{')) return null;
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as LogRecord) : null;
  } catch {
    return null;
  }
}

function isRequest(
  record: LogRecord,
): record is LogRecord & { method: string; path: string; status: number } {
  return (
    typeof record.method === 'string' && typeof record.path === 'string' && typeof record.status === 'number'
  );
}

function timeOf(record: LogRecord): number | string {
  return typeof record.time === 'string' || typeof record.time === 'number' ? record.time : Date.now();
}

/** The worker in full, for request lines: `worker 1 (vm:8002, pid 1821)`. */
function whoLogged(record: LogRecord): string | null {
  if (record.name !== 'worker') return typeof record.name === 'string' ? record.name : null;
  const where = [record.hostname, record.port].filter((part) => part !== undefined).join(':');
  const parts = [where, record.pid !== undefined ? `pid ${record.pid}` : ''].filter(Boolean);
  return `${whoShort(record)}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
}

/** `worker 1`, `proxy`: enough beside a time stamp for anything but a request. */
function whoShort(record: LogRecord): string {
  const name = typeof record.name === 'string' ? record.name : '';
  return name === 'worker' && record.instance !== undefined ? `worker ${record.instance}` : name;
}

function details(record: LogRecord): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (QUIET_FIELDS.has(key) || value === undefined) continue;
    if (key === 'err' && typeof value === 'object' && value !== null) {
      const err = value as { type?: unknown; message?: unknown };
      parts.push(
        `${typeof err.type === 'string' ? err.type : 'Error'}: ${oneLine(String(err.message ?? ''))}`,
      );
      continue;
    }
    const text =
      typeof value === 'string'
        ? value
        : Array.isArray(value) && value.every((item) => typeof item === 'string')
          ? value.join(',')
          : JSON.stringify(value);
    parts.push(`${key}=${/[\s"]/.test(text) ? JSON.stringify(text) : text}`);
  }
  return parts.length > 0 ? ` ${parts.join(' ')}` : '';
}

/** HH:MM:SS in local time: a terminal is read by someone in their own time zone. */
function clock(time: number | string): string {
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? '--:--:--' : date.toTimeString().slice(0, 8);
}

function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '? ms';
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`;
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

// A path or message with a newline in it would forge a second log line.
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
