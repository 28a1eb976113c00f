import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { UpstreamConnection } from './connections.js';
import { ProxyError } from './errors.js';
import type { Exchange } from './exchange.js';
import { responseHeaders } from './headers.js';
import type { Upstream } from './pool/upstream.js';

/** What an attempt tells the request path it belongs to; decisions about the exchange are made there. */
export interface AttemptOwner {
  /** The request is going out on a connection: the client's body may start flowing into `attempt.body`. */
  sending(attempt: UpstreamAttempt): void;
  /** The upstream answered `status`: true when the exchange drops this answer for the next upstream. */
  retryStatus(attempt: UpstreamAttempt, status: number): boolean;
  /** Failed before any byte of the response reached the client: a retry or a proxy-made error follows. */
  failed(attempt: UpstreamAttempt, error: Error): void;
  /** Failed after part of the response reached the client: the client gets an incomplete message. */
  cut(attempt: UpstreamAttempt, error: Error): void;
  /** The whole response went to the client. */
  completed(attempt: UpstreamAttempt): void;
  /** Told the size of every response body chunk (see body-memory.ts). */
  readonly onBodyBytes?: ((bytes: number) => void) | undefined;
}

/**
 * Read timeouts shorter than this run on a timer of ours: undici's own timers have a resolution
 * of about a second, fine for the usual 60 s, not for a 200 ms timeout.
 */
const PRECISE_BELOW = 2000;

/**
 * One attempt at one upstream, as an undici dispatch handler writing straight into the client
 * response: no stream objects on the upstream side, backpressure by pausing the upstream parser
 * while the client socket is full.
 */
export class UpstreamAttempt implements Dispatcher.DispatchHandler {
  /** A copy of the body for this attempt only, fed from the client once the request goes out. */
  readonly body: PassThrough | null;
  /** The request (head or body) may have reached the upstream. */
  requestSent = false;
  /** The response was handed to the client: errors after it cannot be retried. */
  responded = false;
  private connection: UpstreamConnection | null = null;
  private abort: ((err?: Error) => void) | null = null;
  /** The exchange moved on (another attempt, a proxy-made answer, the client left). */
  private discarded = false;
  /** undici is done with this request (completed or failed). */
  private complete = false;
  /** Our own read timer for timeouts under PRECISE_BELOW (undici's timers tick once a second). */
  private readTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly ex: Exchange,
    readonly upstream: Upstream,
    private readonly owner: AttemptOwner,
  ) {
    this.body = ex.hasBody ? new PassThrough() : null;
  }

  start(): void {
    const { req, runtime } = this.ex;
    const timeout = runtime.config.timeouts.read;
    const read = timeout >= PRECISE_BELOW ? timeout : 0;
    this.connection = runtime.connections.take(this.upstream);
    runtime.connections.dispatch(
      this.connection,
      {
        path: req.url ?? '/',
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: req.headers,
        body: this.body,
        headersTimeout: read,
        bodyTimeout: read,
      },
      this,
    );
  }

  /** Stops this attempt's upstream exchange (its connection is closed, never reused). */
  cancel(): void {
    if (this.complete || this.discarded) return;
    this.discarded = true;
    this.stopTimer();
    this.abort?.();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.discarded) return abort();
    this.requestSent = true;
    const timeout = this.ex.runtime.config.timeouts.read;
    if (timeout > 0 && timeout < PRECISE_BELOW) {
      this.readTimer = setTimeout(() => {
        this.readTimer = null;
        abort(new ProxyError('GH_ERR_UPSTREAM_TIMEOUT', 'upstream read timeout', true));
      }, timeout);
    }
    this.owner.sending(this);
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    const { ex } = this;
    if (this.discarded) return false;
    if (this.owner.retryStatus(this, status)) return false;
    const { res } = ex;
    if (res.headersSent || res.destroyed) {
      this.discard();
      return false;
    }
    ex.settled = true;
    this.responded = true;
    this.readTimer?.refresh();
    const seen = { close: false };
    res.writeHead(status, statusText, responseHeaders(rawHeaders, ex.origin.requestId, seen));
    // A draining worker says close: send nothing more on connections opened before this answer.
    if (seen.close && this.connection) ex.runtime.connections.renew(this.connection);
    res.on('drain', resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.discarded) return false;
    this.readTimer?.refresh();
    this.ex.bytesSent += chunk.length;
    this.owner.onBodyBytes?.(chunk.length);
    return this.ex.res.write(chunk);
  }

  onComplete(): void {
    this.stopTimer();
    if (this.discarded) return;
    this.complete = true;
    this.owner.completed(this);
    this.ex.res.end();
  }

  onError(err: Error): void {
    this.stopTimer();
    this.complete = true;
    if (this.discarded) return;
    if (this.responded) this.owner.cut(this, err);
    else this.owner.failed(this, err);
  }

  /** Drops this attempt from inside an undici callback (aborting there would re-enter undici). */
  discard(): void {
    this.discarded = true;
    this.stopTimer();
    queueMicrotask(() => this.abort?.());
  }

  private stopTimer(): void {
    if (this.readTimer) clearTimeout(this.readTimer);
    this.readTimer = null;
  }
}
