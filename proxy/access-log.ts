import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino } from 'pino';
import type { AccessLogConfig } from '../config/index.js';
import { formatRequestLine } from '../process/log-line.js';

export interface AccessEntry {
  remoteAddr: string;
  method: string;
  url: string;
  httpVersion: string;
  status: number;
  bytesSent: number;
  referer: string | undefined;
  userAgent: string | undefined;
  requestId: string;
  upstream: string | null;
  /** Seconds, as nginx's $request_time. */
  requestTime: number;
  upstreamTime: number | null;
}

export interface AccessLog {
  write(entry: AccessEntry): void;
  flush(): void;
  /**
   * A file: closes it and opens its path again (nginx -s reopen, after logrotate renamed it).
   * Throws when the path cannot be opened, and then keeps writing to the file it has. stdout: nothing.
   */
  reopen(): void;
  close(): void;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? `0${n}` : String(n));

// $time_local changes once a second; formatting it per request would be wasted work.
let cachedSecond = -1;
let cachedTime = '';
function timeLocal(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    const d = new Date(now);
    const offset = -d.getTimezoneOffset();
    const sign = offset >= 0 ? '+' : '-';
    const abs = Math.abs(offset);
    cachedTime = `${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
    cachedSecond = second;
  }
  return cachedTime;
}

// nginx escapes a quote, a backslash, control characters and every byte from 0x7F up as \xHH
// (upper-case hex); header values arrive latin1-decoded, one character per byte. An absent
// value is "-", an empty one stays empty.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
const UNSAFE = /["\\\x00-\x1f\x7f-\uffff]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is escaped
const UNSAFE_ALL = /["\\\x00-\x1f\x7f-\uffff]/g;
function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  if (code <= 0xff) return `\\x${code.toString(16).toUpperCase().padStart(2, '0')}`;
  let out = '';
  for (const byte of Buffer.from(c, 'utf8')) out += `\\x${byte.toString(16).toUpperCase()}`;
  return out;
}
function quote(value: string | undefined): string {
  if (value === undefined) return '-';
  return UNSAFE.test(value) ? value.replace(UNSAFE_ALL, escapeChar) : value;
}

/** nginx's `combined` format, byte for byte. */
export function formatCombined(e: AccessEntry, now = Date.now()): string {
  return `${e.remoteAddr} - - [${timeLocal(now)}] "${quote(`${e.method} ${e.url} HTTP/${e.httpVersion}`)}" ${e.status} ${e.bytesSent} "${quote(e.referer)}" "${quote(e.userAgent)}"\n`;
}

export function formatJson(e: AccessEntry, now = Date.now()): string {
  return `${JSON.stringify({
    time: new Date(now).toISOString(),
    remote_addr: e.remoteAddr,
    request_id: e.requestId,
    method: e.method,
    uri: e.url,
    protocol: `HTTP/${e.httpVersion}`,
    status: e.status,
    body_bytes_sent: e.bytesSent,
    referer: e.referer ?? '',
    user_agent: e.userAgent ?? '',
    upstream: e.upstream ?? '',
    request_time: e.requestTime,
    upstream_response_time: e.upstreamTime,
  })}\n`;
}

/** A request as a person at a terminal reads it (process/log-line.ts): who answered, how fast. */
export function formatTerminal(e: AccessEntry, now = Date.now()): string {
  return `${formatRequestLine({
    time: now,
    method: e.method,
    path: e.url,
    status: e.status,
    ms: e.requestTime * 1000,
    by: e.upstream,
  })}\n`;
}

/** Where formatted lines go: buffered, flushed at least once a second and on close. */
interface Sink {
  write(text: string): void;
  flush(): void;
  reopen(): void;
  close(): void;
}

/** The part of process.stdout the access log uses (tests pass their own). */
export interface Stdout {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * null when the log is off: then the request path does no logging work at all. To a terminal
 * (stdout is a TTY) each request is one readable line; files and pipes get the configured format.
 */
export function createAccessLog(config: AccessLogConfig, stdout: Stdout = process.stdout): AccessLog | null {
  if (config.path === 'off') return null;
  const terminal = config.path === 'stdout' && stdout.isTTY === true;
  const format = terminal ? formatTerminal : config.format === 'json' ? formatJson : formatCombined;
  const sink = terminal
    ? { write: (text: string) => void stdout.write(text), flush() {}, reopen() {}, close() {} }
    : config.path === 'stdout' && wrapped(stdout)
      ? batchedSink(stdout)
      : fileSink(config.path === 'stdout' ? 1 : config.path);
  return {
    write(entry) {
      sink.write(format(entry));
    },
    flush: sink.flush,
    reopen: sink.reopen,
    close: sink.close,
  };
}

/**
 * pm2's cluster mode replaces process.stdout.write to carry a process's output to its log files
 * and `pm2 logs`; file descriptor 1 is the daemon's own log there, so the lines must go through
 * the replaced write (pino checks the same way for its own destination).
 */
function wrapped(stdout: Stdout): boolean {
  const prototype = Object.getPrototypeOf(stdout) as { write?: unknown } | null;
  return prototype !== null && stdout.write !== prototype.write;
}

/**
 * Lines gathered into writes of 4 KiB or more. Hand-written in front of SonicBoom (pino's file
 * destination, which batches too): SonicBoom measures the byte length of its whole pending buffer
 * at every write, which flattens it — up to 4 KiB copied per logged request, the largest single
 * source of garbage on the request path in a heap profile (2.2 KB per request).
 */
class LineBatch {
  private pending = '';

  constructor(private readonly out: (text: string) => void) {}

  add(text: string): void {
    this.pending += text;
    if (this.pending.length >= 4096) this.drain();
  }

  /** Hands on what is pending. */
  drain(): void {
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.out(text);
  }
}

// pino's destination is SonicBoom: asynchronous writes to a fd or file.
function fileSink(dest: number | string): Sink {
  const options = { sync: false, minLength: 4096 };
  let boom = pino.destination({ ...options, dest, mkdir: true });
  const lines = new LineBatch((text) => void boom.write(text));
  const timer = setInterval(() => {
    lines.drain();
    boom.flush();
  }, 1000);
  timer.unref();
  return {
    write: (text) => lines.add(text),
    flush() {
      lines.drain();
      try {
        boom.flushSync();
      } catch {}
    },
    reopen() {
      if (typeof dest === 'number') return;
      // Opened here, synchronously, so that a path that cannot be opened throws now and the lines
      // keep going to the old file (nginx keeps its old file too).
      mkdirSync(dirname(dest), { recursive: true });
      const fd = openSync(dest, 'a');
      // The old destination writes out what it holds (a write in flight, then its buffer and the
      // lines still batched here) to the file it has open, renamed away by now, and closes it;
      // lines from here on go to the new file. So each line lands once: those logged before the
      // reopen in the old file, the rest in the new one. (SonicBoom's own reopen() would carry its
      // buffer over to the new file.)
      lines.drain();
      const old = boom;
      boom = pino.destination({ ...options, dest: fd });
      old.end();
    },
    close() {
      clearInterval(timer);
      lines.drain();
      try {
        boom.flushSync();
      } catch {}
      boom.end();
    },
  };
}

/** The same 4 KiB / 1 s batching, for a stream that is not a file descriptor. */
function batchedSink(stdout: Stdout): Sink {
  const lines = new LineBatch((text) => void stdout.write(text));
  const timer = setInterval(() => lines.drain(), 1000);
  timer.unref();
  return {
    write: (text) => lines.add(text),
    flush: () => lines.drain(),
    // The stream's owner (pm2) reopens its files itself: pm2 reloadLogs.
    reopen() {},
    close() {
      clearInterval(timer);
      lines.drain();
    },
  };
}
