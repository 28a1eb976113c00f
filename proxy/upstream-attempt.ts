import type { Socket } from 'node:net';
import { PassThrough, type Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { TimeoutsConfig } from '../config/index.js';
import { ResponseBuffer } from './buffering/response-buffer.js';
import type { TempSpace } from './buffering/temp-space.js';
import { bodySink, type Coding, compressAnswer } from './compression/index.js';
import type { UpstreamConnection } from './connections.js';
import { ProxyError } from './errors.js';
import type { Exchange } from './exchange.js';
import { type ResponseSeen, responseHeaders } from './headers.js';
import { relayInformational } from './informational.js';
import type { Upstream } from './pool/upstream.js';

/** What an attempt tells the request path it belongs to; decisions about the exchange are made there. */
export interface AttemptOwner {
  /** The request is going out on a connection: a streamed body may start flowing into `attempt.stream`. */
  sending(attempt: UpstreamAttempt): void;
  /** The upstream answered `status`: true when the exchange drops this answer for the next upstream. */
  retryStatus(attempt: UpstreamAttempt, status: number): boolean;
  /** Failed before any byte of the response reached the client: a retry or a proxy-made error follows. */
  failed(attempt: UpstreamAttempt, error: Error): void;
  /** Failed after part of the response reached the client: the client gets an incomplete message. */
  cut(attempt: UpstreamAttempt, error: Error): void;
  /** The upstream sent its whole response (what the client has not taken yet may still be held). */
  completed(attempt: UpstreamAttempt): void;
  /** Where responses held for a slow client go past memory (buffering.response). */
  readonly tempSpace: TempSpace;
  /** Told the size of every response body chunk (see body-memory.ts). */
  readonly onBodyBytes?: ((bytes: number) => void) | undefined;
}

/** A response head received and not yet written to the client. */
interface HeldHead {
  status: number;
  statusText: string;
  headers: string[];
  /** The body is compressed with this coding on its way (compression/). */
  coding: Coding | null;
  /** The upstream's Content-Length, for the compressor (null: none, or not compressed). */
  length: number | null;
}

/**
 * One attempt at one upstream, as an undici dispatch handler writing straight into the client
 * response: no stream objects on the upstream side, backpressure by pausing the upstream parser
 * while the client socket is full. It keeps the upstream timeouts on timers of its own (undici's
 * tick every 500 ms): send between two writes that found the socket full, read from the end of
 * the request to the response and between two reads of it — nginx's proxy_send_timeout and
 * proxy_read_timeout.
 *
 * The response head is held until the first body byte (or the end, for a response without a
 * body): Node sends a head only with the first body write anyway, so this costs no write, and a
 * worker dying between its head and its body is then an error before the response — retried or
 * answered 502 — instead of a client connection cut with nothing on it.
 */
export class UpstreamAttempt implements Dispatcher.DispatchHandler {
  /** A streamed body's copy for this attempt only, fed from the client once the request goes out. */
  readonly stream: PassThrough | null;
  /** What undici sends: the stream, a buffered body's bytes or temp file, or nothing. */
  private readonly body: Dispatcher.DispatchOptions['body'];
  /** The request (head or body) may have reached the upstream. */
  requestSent = false;
  /** Part of the response went to the client: errors after it cannot be retried. */
  responded = false;
  private connection: UpstreamConnection | null = null;
  private abort: ((err?: Error) => void) | null = null;
  /** The exchange moved on (another attempt, a proxy-made answer, the client left). */
  private discarded = false;
  /** undici is done with this request (completed or failed). */
  private complete = false;
  private head: HeldHead | null = null;
  private resumeUpstream: (() => void) | null = null;
  /** The client socket (or the response buffer) is full: the upstream parser waits. */
  private waitingForClient = false;
  /** buffering.response applies to this response (not X-Accel-Buffering: no, not an event stream). */
  private buffers = false;
  /** What the client has not taken yet, once its socket was first found full (buffers only). */
  private buffer: ResponseBuffer | null = null;
  /** Where body bytes go once the head is out: the client's response, or a compressor in front of it. */
  private sink: Writable | null = null;
  private readonly timeouts: TimeoutsConfig;
  private readTimer: NodeJS.Timeout | null = null;
  private sendTimer: NodeJS.Timeout | null = null;
  /** The socket whose 'drain' ends the send timer. */
  private blockedSocket: Socket | null = null;

  constructor(
    readonly ex: Exchange,
    readonly upstream: Upstream,
    private readonly owner: AttemptOwner,
  ) {
    this.stream = ex.hasBody && !ex.requestBody ? new PassThrough() : null;
    this.body = ex.requestBody ? ex.requestBody.source() : this.stream;
    this.timeouts = ex.runtime.config.timeouts;
  }

  start(): void {
    const { req, backend, target } = this.ex;
    const connections = backend!.connections;
    this.connection = connections.take(this.upstream);
    connections.dispatch(
      this.connection,
      {
        path: target,
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: req.headers,
        body: this.body,
      },
      this,
    );
  }

  /** Stops this attempt's upstream exchange (its connection is closed, never reused). */
  cancel(): void {
    if (this.complete || this.discarded) return;
    this.discarded = true;
    this.stopTimers();
    this.abort?.();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.discarded) return abort();
    this.requestSent = true;
    this.owner.sending(this);
  }

  /**
   * undici wrote a body chunk. A socket left holding more than it passes on (the worker stopped
   * reading) starts the send timer, and its 'drain' ends it. Node reports no partial flush, so a
   * worker that reads, but less than about the socket's 64 KiB buffer per send timeout, is cut too
   * (nginx, seeing each partial write, would wait).
   */
  onBodySent(): void {
    const socket = this.connection?.socket;
    if (this.sendTimer || !socket?.writableNeedDrain || this.timeouts.send <= 0) return;
    this.sendTimer = setTimeout(onSendTimeout, this.timeouts.send, this);
    this.blockedSocket = socket;
    socket.once('drain', this.onSocketDrain);
  }

  /** The whole request was handed to the socket: the read timeout runs from here. */
  onRequestSent(): void {
    this.armReadTimer();
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.discarded) return false;
    this.armReadTimer();
    if (status < 200) {
      relayInformational(this.ex.req, this.ex.res, status, rawHeaders);
      return true;
    }
    if (this.owner.retryStatus(this, status)) return false;
    const seen: ResponseSeen = { close: false };
    const headers = responseHeaders(rawHeaders, this.ex.origin.requestId, seen);
    this.buffers = this.ex.runtime.config.buffering.response && !seen.unbuffered;
    // A draining worker says close: send nothing more on connections opened before this answer.
    if (seen.close && this.connection) this.ex.backend?.connections.renew(this.connection);
    this.resumeUpstream = resume;
    this.head = { status, statusText, ...compressAnswer(this.ex, status, headers) };
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.discarded) return false;
    this.readTimer?.refresh();
    if (this.head) this.sendHead();
    // A compressed body's bytes are counted as they leave zlib (compression/exchange.ts).
    if (this.sink === this.ex.res) this.ex.bytesSent += chunk.length;
    this.owner.onBodyBytes?.(chunk.length);
    if (this.buffer) return this.buffer.push(chunk) || this.waitForClient();
    const sink = this.sink!;
    if (sink.write(chunk)) return true;
    if (!this.buffers) return this.waitForClient();
    // nginx proxy_buffering: the worker goes on writing; what the client cannot take yet is held.
    const { runtime } = this.ex;
    this.buffer = new ResponseBuffer(sink, this.owner.tempSpace, runtime.config.buffering, this.onBufferRoom);
    return true;
  }

  onComplete(): void {
    this.stopTimers();
    if (this.discarded) return;
    this.complete = true;
    if (this.head) this.sendHead();
    // The worker is done (its connection went back to the pool): its hold ends now, even while a
    // slow client still reads what is buffered.
    this.owner.completed(this);
    if (this.buffer) this.buffer.end();
    else this.sink!.end();
  }

  onError(err: Error): void {
    this.stopTimers();
    this.complete = true;
    if (this.discarded) return;
    if (this.responded) this.owner.cut(this, err);
    else this.owner.failed(this, err);
  }

  /** Drops this attempt from inside an undici callback (aborting there would re-enter undici). */
  discard(): void {
    this.discarded = true;
    this.stopTimers();
    queueMicrotask(() => this.abort?.());
  }

  /** Timed out: fails the request through undici, which closes the connection. */
  timedOut(error: ProxyError): void {
    this.abort?.(error);
  }

  private waitForClient(): false {
    this.waitingForClient = true;
    return false;
  }

  /** The client socket drained: the upstream parser reads on, and the read timeout runs again. */
  private readonly onClientDrain = (): void => {
    // With a buffer, a drain feeds the client from it; the buffer says when it has room.
    if (!this.waitingForClient || this.buffer) return;
    this.readUpstream();
  };

  private readonly onBufferRoom = (): void => {
    if (this.waitingForClient) this.readUpstream();
  };

  private readUpstream(): void {
    this.waitingForClient = false;
    this.readTimer?.refresh();
    this.resumeUpstream?.();
  }

  private readonly onSocketDrain = (): void => {
    if (this.sendTimer) clearTimeout(this.sendTimer);
    this.sendTimer = null;
    this.blockedSocket = null;
  };

  private sendHead(): void {
    const { ex } = this;
    const head = this.head!;
    this.head = null;
    this.responded = true;
    ex.settled = true;
    // HTTP/2 has no reason phrase (Node warns when given one).
    if (ex.req.httpVersionMajor === 2) ex.res.writeHead(head.status, head.headers);
    else ex.res.writeHead(head.status, head.statusText, head.headers);
    this.sink = bodySink(ex, head.coding, head.length);
    this.sink.on('drain', this.onClientDrain);
  }

  private armReadTimer(): void {
    if (this.readTimer) this.readTimer.refresh();
    else if (this.timeouts.read > 0) this.readTimer = setTimeout(onReadTimeout, this.timeouts.read, this);
  }

  private stopTimers(): void {
    if (this.readTimer) clearTimeout(this.readTimer);
    this.readTimer = null;
    if (this.sendTimer) {
      clearTimeout(this.sendTimer);
      this.sendTimer = null;
      this.blockedSocket?.off('drain', this.onSocketDrain);
      this.blockedSocket = null;
    }
  }

  /** For the read timer: whether the upstream is being waited for (not the client). */
  get waitingForUpstream(): boolean {
    return !this.waitingForClient;
  }
}

/** Timer callbacks take the attempt as an argument: no closure per request. */
function onReadTimeout(attempt: UpstreamAttempt): void {
  // While the client is not reading, the upstream waits for us: the timer runs again on 'drain'.
  if (!attempt.waitingForUpstream) return;
  attempt.timedOut(new ProxyError('GH_ERR_UPSTREAM_TIMEOUT', 'upstream read timeout', true));
}

function onSendTimeout(attempt: UpstreamAttempt): void {
  attempt.timedOut(
    new ProxyError(
      'GH_ERR_UPSTREAM_SEND_TIMEOUT',
      'upstream timed out while sending request to upstream',
      true,
    ),
  );
}
