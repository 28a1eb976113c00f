import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeping the proxy's memory flat while bodies stream through it. Written by hand: this is about
 * how V8 treats buffers, and no library does it.
 *
 * Each chunk of a streamed body is a buffer of up to 64 KiB allocated outside V8's heap (one per
 * socket read, one per parsed request-body chunk). The collector sees only the small Buffer
 * objects, so while bytes stream nothing fills the heap and no collection runs; V8 frees the
 * chunks only once about 64 MB of them have piled up (its external-memory limit). A proxy
 * streaming a large upload and its echo would hold tens of MB of dead chunks. Node frees no buffer
 * on request, so after every `COLLECT_EVERY` bytes of body this process asks V8 for a
 * young-generation collection (a scavenge: about a millisecond, and the chunks die young, so it
 * frees them). Measured with test/proxy/streaming.test.ts (50 MB up + 50 MB down): peak RSS
 * growth +42–66 MB (Node 20) and +52–73 MB (Node 24) without; with it and the parser setting
 * below, +12–18 MB (Node 20) and +14–20 MB (Node 24). The price, where bodies are large: POST
 * 64 KiB echoed at 20 connections costs about 12% more proxy CPU per request (A/B, 6 rounds:
 * 400 vs 356 µs); every 4 MiB halved the growth again for twice that CPU, every 16 MiB cost no
 * visible CPU. Requests without bodies never reach the threshold.
 */
export const COLLECT_EVERY = 8 * 1024 * 1024;

type Collect = (options: { type: 'minor'; execution: 'sync' }) => void;

export class BodyMemory {
  private pending = 0;
  /** Collections run so far (for tests and diagnostics). */
  collections = 0;

  constructor(
    private readonly collect: Collect | null,
    private readonly every = COLLECT_EVERY,
  ) {}

  /** Counts body bytes that went through (either way); collects when `every` have gone by. */
  readonly add = (bytes: number): void => {
    this.pending += bytes;
    if (this.pending < this.every) return;
    this.pending = 0;
    if (this.collect === null) return;
    this.collections++;
    this.collect({ type: 'minor', execution: 'sync' });
  };
}

/**
 * V8's collector as a function: the global `gc` when Node runs with --expose-gc, else exposed in a
 * context of its own (the flag only adds it to contexts made after it is set). Null where the
 * runtime refuses: the proxy then streams as before, only with a higher memory peak.
 */
export function exposeCollector(): Collect | null {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as Collect;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as Collect) : null;
  } catch {
    return null;
  }
}

/**
 * The upstream HTTP parser (undici's llhttp, WebAssembly) stays on V8's baseline compiler. By
 * default V8 recompiles hot WebAssembly with its optimizing compiler the first time a large body
 * makes the parser hot: a one-time transient of about 30 MB (measured with heaptrack: zone memory
 * of the background compile), in the middle of serving. The optimized parser gained nothing
 * measurable (undici client, 60,000 requests: 22.9 vs 22.8 µs CPU per request; a body with a
 * Content-Length is not scanned byte by byte). Must run before the first upstream connection of
 * the process; later it changes nothing. The flag is process-wide: the proxy runs no other
 * WebAssembly.
 */
export function keepParserOnBaselineCompiler(): void {
  setFlagsFromString('--liftoff-only');
}
