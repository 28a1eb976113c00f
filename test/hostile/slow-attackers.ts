import { connect, type Socket } from 'node:net';
import { slowUpload } from '../helpers/slow-clients.js';

/**
 * Slow and idle attackers (issue 15 item 2): connections that hold a front's resources while
 * sending as little as they can. Each is cut by one client timeout; `armedAt` is when that
 * timeout's clock started, `closed` resolves with when the proxy ended the connection.
 *   slowloris       a request head dripped one byte a second, never finished → client_header
 *   slow-body       a whole head, then the body's bytes further apart than client_body → client_body
 *   silent          connects and sends nothing at all → client_header (Node counts from the connection)
 *   idle-keepalive  one request answered, then nothing → client_keepalive
 */
export type AttackKind = 'slowloris' | 'slow-body' | 'silent' | 'idle-keepalive';

export const ATTACK_KINDS: readonly AttackKind[] = ['slowloris', 'slow-body', 'silent', 'idle-keepalive'];

export interface Attacker {
  kind: AttackKind;
  /** When the timeout that must cut it started (Date.now()); null until then. */
  armedAt(): number | null;
  /** Resolves with when the connection closed (Date.now()). */
  closed: Promise<number>;
  stop(): void;
}

/** ms between two bytes of a slow body: longer than any client_body the callers set. */
export const SLOW_BODY_GAP = 30_000;

function watch(socket: Socket): Promise<number> {
  socket.on('error', () => {});
  // Read (and drop) the answer: a socket nobody reads never sees the proxy's FIN, so never closes.
  socket.resume();
  return new Promise((resolve) => socket.once('close', () => resolve(Date.now())));
}

// Each attacker's clock starts no later than the proxy's can: before connect() (the proxy times
// from its accept, and a loaded client sees 'connect' later than that), or when the request is
// written (the keep-alive clock starts once the answer is out). So "cut before its timeout" is a
// bug of the proxy, never the client's late reading of its own clock.
function slowloris(port: number): Attacker {
  const armed = Date.now();
  const socket = connect(port, '127.0.0.1');
  let timer: NodeJS.Timeout | undefined;
  const head = Buffer.from('GET /slowloris HTTP/1.1\r\nHost: attack.test\r\nX-Drip: ');
  let sent = 0;
  socket.once('connect', () => {
    timer = setInterval(() => {
      // The head, then its last header's value forever: never the blank line that ends it.
      socket.write(sent < head.length ? head.subarray(sent, sent + 1) : 'a');
      sent++;
    }, 1000);
    socket.write(head.subarray(0, 1));
    sent = 1;
  });
  const closed = watch(socket).finally(() => clearInterval(timer));
  return { kind: 'slowloris', armedAt: () => armed, closed, stop: () => socket.destroy() };
}

function slowBody(port: number): Attacker {
  const started = Date.now();
  const upload = slowUpload(port, { path: '/slow-body', bytes: 1000, chunk: 1, every: SLOW_BODY_GAP });
  // The head and the first byte go at once: the body's idle clock starts then.
  const closed = upload.done.then(() => Date.now());
  return { kind: 'slow-body', armedAt: () => started, closed, stop: () => upload.cancel() };
}

function silent(port: number): Attacker {
  const armed = Date.now();
  const socket = connect(port, '127.0.0.1');
  return { kind: 'silent', armedAt: () => armed, closed: watch(socket), stop: () => socket.destroy() };
}

function idleKeepalive(port: number): Attacker {
  const socket = connect(port, '127.0.0.1');
  let armed: number | null = null;
  let answer = '';
  socket.setEncoding('latin1');
  let written: number | null = null;
  socket.once('connect', () => {
    written = Date.now();
    socket.write('GET /idle HTTP/1.1\r\nHost: attack.test\r\n\r\n');
  });
  socket.on('data', (text: string) => {
    answer += text;
    // The answer is in (a short one, with its length): from now on the connection is idle, and
    // has been since no earlier than the request went out.
    const end = answer.indexOf('\r\n\r\n');
    const length = /\r\ncontent-length: *(\d+)/i.exec(answer)?.[1];
    if (armed === null && end >= 0 && length !== undefined && answer.length >= end + 4 + Number(length)) {
      armed = written;
    }
  });
  return {
    kind: 'idle-keepalive',
    armedAt: () => armed,
    closed: watch(socket),
    stop: () => socket.destroy(),
  };
}

export function openAttacker(port: number, kind: AttackKind): Attacker {
  switch (kind) {
    case 'slowloris':
      return slowloris(port);
    case 'slow-body':
      return slowBody(port);
    case 'silent':
      return silent(port);
    case 'idle-keepalive':
      return idleKeepalive(port);
  }
}

/** `count` attackers, the kinds taking turns. */
export function openAttackers(port: number, count: number): Attacker[] {
  return Array.from({ length: count }, (_, i) => openAttacker(port, ATTACK_KINDS[i % ATTACK_KINDS.length]!));
}

/** Latencies (ms) of `count` sequential GETs on fresh connections, or for `seconds` when given. */
export async function normalClient(
  get: () => Promise<number>,
  options: { count?: number; until?: number },
): Promise<number[]> {
  const { count = Number.POSITIVE_INFINITY, until = Number.POSITIVE_INFINITY } = options;
  const latencies: number[] = [];
  while (latencies.length < count && Date.now() < until) {
    const started = performance.now();
    const status = await get();
    if (status !== 200) throw new Error(`a normal request was answered ${status}`);
    latencies.push(performance.now() - started);
  }
  return latencies;
}

/** The p-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
