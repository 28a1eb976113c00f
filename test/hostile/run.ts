import { connect } from 'node:net';
import { readMessage } from '../helpers/raw-backend.js';
import { describeInput, generate, type HostileInput } from './generate.js';
import type { RecordingBackend } from './recording-backend.js';

/**
 * Drives generated inputs at a proxy over many connections at once, one input per connection,
 * and checks each answer: 4xx, a valid answer, or a close — never a 5xx, never a hang, never
 * an unreadable answer; a valid input answered 200 for each of its requests.
 */

export interface FuzzOptions {
  port: number;
  seed: number;
  /** Inputs to send (the first is index `from`). */
  count: number;
  from?: number;
  /** Connections open at once. */
  concurrency: number;
  /**
   * How long a connection may stay open (ms): past it, a hang. Longer than the proxy's client
   * timeouts, which must end whatever it is still waiting for.
   */
  wait: number;
  /** Run before input i whenever i % checkEvery === 0: throws when the proxy no longer serves. */
  check?: () => Promise<void>;
  checkEvery?: number;
  /** No new input starts after this time (Date.now()). */
  deadline?: number;
  /** Only the inputs of this family (the others in the index range are skipped): to corner one. */
  family?: string;
  /** Loopback source addresses to spread connections over (TIME_WAIT uses ports per address). */
  sources?: readonly string[];
}

export interface Failure {
  seed: number;
  index: number;
  reason: string;
  input: string;
}

export interface FuzzReport {
  seed: number;
  inputs: number;
  /** Final answers per status code. */
  statuses: Map<number, number>;
  /** Inputs the proxy closed without any answer. */
  closedSilently: number;
  /** Inputs whose connection was still open at the bound. */
  hung: number;
  failures: Failure[];
  /** Every smuggled path the proxy answered to a client as a request of its own. */
  answeredSmuggled: Set<string>;
  /** Smuggled paths the proxy forwarded as requests of their own, answered to no one (desyncs()). */
  unansweredPipelined: number;
  /**
   * Valid inputs answered 408 during the run that were answered right when sent again alone: see
   * TIMEOUT_REPLAYS.
   */
  timedOutThenPassed: number;
  seconds: number;
}

/**
 * A valid input answered 408 (a client timeout, 1 s in the fuzz target) is sent again alone once
 * the run is over, and fails only if it fails again. With 200 connections at once on a loaded
 * machine either side can stall past the timeout: the client between the parts it writes, or the
 * proxy, whose expired timer runs before the event loop reads the bytes that waited meanwhile.
 * A proxy bug reproduces on the replay (the inputs are deterministic); a stall does not. More
 * such inputs than this are failures without a replay.
 */
const TIMEOUT_REPLAYS = 20;

interface Answer {
  status: number;
  seen: string | undefined;
}

/** Loopback addresses to connect from: closed connections wait in TIME_WAIT, using up ports per address. */
export const LOOPBACK_SOURCES: readonly string[] = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 1}`);

const MAX_KEPT = 1024 * 1024;

/** The answers in what the proxy sent, in order; `broken` when a part cannot be read as HTTP. */
export function readAnswers(raw: Buffer): { answers: Answer[]; broken: boolean } {
  const answers: Answer[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const status = /^HTTP\/1\.[01] (\d{3}) /.exec(rest.toString('latin1', 0, 16));
    if (!status) return { answers, broken: true };
    const code = Number(status[1]);
    const noBody = code < 200 || code === 204 || code === 304;
    let parsed: ReturnType<typeof readMessage>;
    try {
      parsed = readMessage(rest, { response: true, closed: true, noBody });
    } catch {
      return { answers, broken: true };
    }
    if (!parsed) return { answers, broken: rest.length < MAX_KEPT };
    const seen = parsed.message.headers.find(([name]) => name.toLowerCase() === 'x-seen')?.[1];
    answers.push({ status: code, seen: seen === undefined ? undefined : decodeURIComponent(seen) });
    rest = rest.subarray(parsed.consumed);
  }
  return { answers, broken: false };
}

interface Exchanged {
  raw: Buffer;
  closed: boolean;
}

function exchange(
  port: number,
  input: HostileInput,
  bound: number,
  source: string | undefined,
): Promise<Exchanged> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', ...(source ? { localAddress: source } : {}) });
    const chunks: Buffer[] = [];
    let kept = 0;
    let timedOut = false;
    let answered = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, bound);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (kept < MAX_KEPT) chunks.push(chunk);
      kept += chunk.length;
      // Every valid request answered: nothing more is owed, the connection may stay open (keep-alive).
      if (
        input.valid > 0 &&
        readAnswers(Buffer.concat(chunks)).answers.filter((a) => a.status >= 200).length >= input.valid
      ) {
        answered = true;
        socket.destroy();
      }
    });
    // The proxy's FIN or reset, not our timer: a reset counts as a close too.
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ raw: Buffer.concat(chunks), closed: answered || !timedOut });
    });
    socket.once('connect', async () => {
      for (const part of input.parts) {
        if (socket.destroyed) return;
        socket.write(part);
        // A pause between writes, so the proxy reads them as separate chunks.
        if (input.parts.length > 1) await new Promise((r) => setImmediate(r));
      }
      if (input.end === 'half-close' && !socket.destroyed) socket.end();
    });
  });
}

/** What was wrong with the proxy's handling of one input, or null. */
function judge(input: HostileInput, result: Exchanged, answers: Answer[], broken: boolean): string | null {
  if (!result.closed) return 'hang: the connection was neither answered and closed nor closed';
  if (broken) return `an unreadable answer: ${JSON.stringify(result.raw.toString('latin1', 0, 200))}`;
  const server = answers.find((a) => a.status >= 500);
  if (server) return `a ${server.status} answer to a client's input`;
  const ok = answers.filter((a) => a.status === 200).length;
  if (ok < input.valid) {
    return `${input.valid} valid request(s), ${ok} answered 200 (answers: ${answers.map((a) => a.status).join(', ') || 'none'})`;
  }
  return null;
}

/** Sends `count` inputs of `seed` and judges each one; the desync check needs the backends (desyncs()). */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const { port, seed, count, from = 0, concurrency, wait } = options;
  const { check, checkEvery = 500, deadline = Number.POSITIVE_INFINITY, sources = [] } = options;
  const report: FuzzReport = {
    seed,
    inputs: 0,
    statuses: new Map(),
    closedSilently: 0,
    hung: 0,
    failures: [],
    answeredSmuggled: new Set(),
    unansweredPipelined: 0,
    timedOutThenPassed: 0,
    seconds: 0,
  };
  const timedOut: { index: number; input: HostileInput; reason: string }[] = [];
  const started = Date.now();
  let next = from;
  const end = from + count;

  async function lane(): Promise<void> {
    while (next < end && Date.now() < deadline) {
      const index = next++;
      if (check && index % checkEvery === 0) {
        try {
          await check();
        } catch (err) {
          report.failures.push({
            seed,
            index,
            reason: `before it, a valid request failed: ${String(err)}`,
            input: '',
          });
        }
      }
      const input = generate(seed, index);
      if (options.family !== undefined && input.family !== options.family) continue;
      const source = sources.length > 0 ? sources[index % sources.length] : undefined;
      const result = await exchange(port, input, wait, source);
      const { answers, broken } = readAnswers(result.raw);
      report.inputs++;
      for (const answer of answers) {
        if (answer.status >= 200)
          report.statuses.set(answer.status, (report.statuses.get(answer.status) ?? 0) + 1);
        if (answer.seen?.startsWith('/smuggled/')) report.answeredSmuggled.add(answer.seen);
      }
      if (!result.closed) report.hung++;
      else if (answers.length === 0) report.closedSilently++;
      const reason = judge(input, result, answers, broken);
      if (
        reason &&
        input.valid > 0 &&
        answers.some((a) => a.status === 408) &&
        !answers.some((a) => a.status >= 500)
      )
        timedOut.push({ index, input, reason });
      else if (reason) report.failures.push({ seed, index, reason, input: describeInput(seed, input) });
    }
  }

  await Promise.all(Array.from({ length: concurrency }, () => lane()));
  for (const [i, { index, input, reason }] of timedOut.entries()) {
    const again = i < TIMEOUT_REPLAYS ? await exchange(port, input, wait, undefined) : null;
    const replayed = again ? readAnswers(again.raw) : null;
    for (const answer of replayed?.answers ?? [])
      if (answer.seen?.startsWith('/smuggled/')) report.answeredSmuggled.add(answer.seen);
    const still = again && replayed ? judge(input, again, replayed.answers, replayed.broken) : 'not replayed';
    if (still === null) report.timedOutThenPassed++;
    else
      report.failures.push({
        seed,
        index,
        reason: `${reason}; sent again alone: ${still}`,
        input: describeInput(seed, input),
      });
  }
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

/**
 * Desync failures: smuggled requests that reached a worker without the proxy's own framing (the
 * X-Request-Id it adds to every request it forwards), i.e. bytes it sent as another request's
 * body. One the proxy framed itself but whose answer never reached the client (a pipelined request
 * forwarded before a later parse error closed the connection) is counted, not failed: the proxy
 * read it as a request of its own. Call once the proxy is quiet (nothing left in flight).
 */
export function desyncs(report: FuzzReport, backends: readonly RecordingBackend[]): Failure[] {
  const failures: Failure[] = [];
  for (const backend of backends) {
    for (const [path, { framedByProxy }] of backend.smuggled) {
      if (report.answeredSmuggled.has(path)) continue;
      if (framedByProxy) {
        report.unansweredPipelined++;
        continue;
      }
      const index = Number(/^\/smuggled\/(\d+)-/.exec(path)?.[1]);
      failures.push({
        seed: report.seed,
        index,
        reason: `desync: ${path} reached a worker inside another request's body`,
        input: describeInput(report.seed, generate(report.seed, index)),
      });
    }
  }
  return failures;
}

/** The report as lines for a person: counts per outcome, then every failure with its seed and index. */
export function formatReport(report: FuzzReport, failures: readonly Failure[] = report.failures): string {
  const statuses = [...report.statuses.entries()].sort(([a], [b]) => a - b);
  const lines = [
    `seed ${report.seed}: ${report.inputs} inputs in ${report.seconds.toFixed(1)} s`,
    `answers by status: ${statuses.map(([s, n]) => `${s}×${n}`).join('  ') || 'none'}`,
    `closed without an answer: ${report.closedSilently}   hung (open at the bound): ${report.hung}`,
    `smuggled requests answered as their own: ${report.answeredSmuggled.size}; forwarded as their own, answer lost to a later close: ${report.unansweredPipelined}`,
    `valid inputs answered 408 under load, then right when sent again alone: ${report.timedOutThenPassed}`,
    `failures: ${failures.length}`,
  ];
  for (const failure of failures.slice(0, 50)) {
    lines.push(
      `  ✗ ${failure.reason}\n    replay: --seed ${failure.seed} --from ${failure.index} --n 1   ${failure.input}`,
    );
  }
  if (failures.length > 50) lines.push(`  … and ${failures.length - 50} more`);
  return lines.join('\n');
}
