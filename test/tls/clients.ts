import type { IncomingHttpHeaders } from 'node:http';
import {
  type ClientHttp2Session,
  type IncomingHttpHeaders as H2Headers,
  connect as h2connect,
} from 'node:http2';
import { type Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';

/** A response as the tests read it, from either client. */
export interface TlsResponse {
  status: number;
  headers: IncomingHttpHeaders | H2Headers;
  body: Buffer;
  /** The protocol ALPN chose ('h2', 'http/1.1', or false when the client offered none). */
  alpn: string | false | null;
  /** The server certificate the handshake presented. */
  peer: PeerCertificate | null;
}

export interface TlsRequestOptions {
  port: number;
  ca: string;
  /** SNI name and Host (default localhost). */
  servername?: string;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string | AsyncIterable<Buffer>;
  agent?: Agent | false;
  timeout?: number;
}

/** One HTTPS/1.1 request to 127.0.0.1 with the test CA trusted (the certificate is checked). */
export function https1(options: TlsRequestOptions): Promise<TlsResponse> {
  const servername = options.servername ?? 'localhost';
  return new Promise((resolve, reject) => {
    const requestOptions: RequestOptions & { ALPNProtocols: string[] } = {
      host: '127.0.0.1',
      port: options.port,
      servername,
      ca: options.ca,
      path: options.path ?? '/',
      method: options.method ?? 'GET',
      headers: { host: `${servername || '127.0.0.1'}:${options.port}`, ...options.headers },
      agent: options.agent ?? false,
      ALPNProtocols: ['http/1.1'],
      timeout: options.timeout ?? 30_000,
    };
    const req = httpsRequest(requestOptions, (res) => {
      const socket = res.socket as TLSSocket;
      const alpn = socket.alpnProtocol;
      const peer = socket.getPeerCertificate();
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          alpn,
          peer,
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    sendBody(req, options.body);
  });
}

/** An HTTP/2 session to 127.0.0.1 with the test CA trusted; closed by the caller. */
export function h2session(port: number, ca: string, servername = 'localhost'): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://${servername}:${port}`, {
      ca,
      servername,
      // The name resolves to the loopback test listener whatever it is.
      host: '127.0.0.1',
      lookup: (_host, _opts, callback) => callback(null, '127.0.0.1', 4),
    });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/** One request on an h2 session (a new one, closed after, when none is given). */
export async function h2(
  options: TlsRequestOptions & { session?: ClientHttp2Session },
): Promise<TlsResponse> {
  const session = options.session ?? (await h2session(options.port, options.ca, options.servername));
  try {
    return await new Promise<TlsResponse>((resolve, reject) => {
      const stream = session.request(
        {
          ':method': options.method ?? 'GET',
          ':path': options.path ?? '/',
          ...options.headers,
        },
        { endStream: options.body === undefined },
      );
      stream.setTimeout(options.timeout ?? 30_000, () => stream.close());
      const socket = session.socket as TLSSocket;
      let headers: H2Headers = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => {
        headers = h;
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () =>
        resolve({
          status: Number(headers[':status'] ?? 0),
          headers,
          body: Buffer.concat(chunks),
          alpn: socket.alpnProtocol,
          peer: socket.getPeerCertificate(),
        }),
      );
      stream.on('error', reject);
      stream.on('close', () => {
        if (stream.rstCode && stream.rstCode !== 0) reject(new Error(`stream reset (${stream.rstCode})`));
      });
      sendBody(stream, options.body);
    });
  } finally {
    if (!options.session) session.close();
  }
}

function sendBody(out: NodeJS.WritableStream, body: TlsRequestOptions['body']): void {
  if (body === undefined) {
    out.end();
    return;
  }
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    out.end(body);
    return;
  }
  void (async () => {
    for await (const chunk of body) {
      if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
    }
    out.end();
  })();
}
