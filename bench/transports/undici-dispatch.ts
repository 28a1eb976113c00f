import type { ServerResponse } from 'node:http';
import { type Dispatcher, Pool } from 'undici';
import { badGateway, prepareRequest, responseHeaders, serveTransport, transportArgs } from './rules.js';

/**
 * (c') undici Pool.dispatch() with a handler that writes straight into the client response: no
 * stream objects on the upstream side, raw header buffers (undici parses nothing for us), and
 * backpressure by returning res.write()'s answer and resuming on 'drain'.
 */
const { port, upstream } = transportArgs();

class ResponseWriter implements Dispatcher.DispatchHandler {
  private abort: ((err?: Error) => void) | null = null;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly requestId: string,
  ) {
    res.once('close', () => {
      if (!this.done) this.abort?.(new Error('client went away'));
    });
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    const flat = new Array<string>(rawHeaders.length);
    for (let i = 0; i < rawHeaders.length; i++) flat[i] = rawHeaders[i]!.toString('latin1');
    this.res.writeHead(statusCode, statusText, responseHeaders(flat, this.requestId));
    this.res.on('drain', resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  onComplete(): void {
    this.done = true;
    this.res.end();
  }

  onError(): void {
    this.done = true;
    badGateway(this.res, this.requestId);
  }
}

const pool = new Pool(`http://${upstream.host}:${upstream.port}`, {
  pipelining: 1,
  keepAliveTimeout: 60_000,
});

serveTransport(port, (req, res) => {
  const { requestId, hasBody } = prepareRequest(req, res);
  pool.dispatch(
    { path: req.url ?? '/', method: req.method as 'GET', headers: req.headers, body: hasBody ? req : null },
    new ResponseWriter(res, requestId),
  );
});
