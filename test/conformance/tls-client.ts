import { request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';

// Clients for the TLS cases: node's https (HTTP/1.1, no ALPN h2) and http2, each on a fresh
// connection, trusting only the suite's CA, with SNI set as a browser sets it from the URL.

export interface TlsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The protocol the TLS handshake chose (ALPN), false when none was offered. */
  alpn: string | false;
  /** The CN of the certificate the server presented. */
  servedCn: string;
}

export interface TlsRequest {
  port: number;
  ca: string;
  /** SNI and Host/:authority; no SNI when undefined (as a client reaching an address). */
  servername?: string;
  method?: string;
  path?: string;
  body?: Buffer;
  timeout?: number;
}

function cnOf(socket: TLSSocket): string {
  const subject = socket.getPeerCertificate().subject as unknown as Record<string, string> | undefined;
  return subject?.CN ?? '';
}

/** One HTTP/1.1 request over TLS. */
export function https1(request: TlsRequest): Promise<TlsResponse> {
  const { port, ca, servername, method = 'GET', path = '/', body, timeout = 30_000 } = request;
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        ca,
        ...(servername ? { servername } : {}),
        method,
        path,
        agent: false,
        timeout,
        headers: {
          host: servername ?? '127.0.0.1',
          ...(body ? { 'content-length': String(body.length) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const socket = res.socket as TLSSocket;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
            alpn: socket.alpnProtocol ?? false,
            servedCn: cnOf(socket),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** One HTTP/2 request (ALPN h2) on its own session; the body, if any, is written in 64 KiB pieces. */
export function http2(request: TlsRequest): Promise<TlsResponse> {
  const { port, ca, servername, method = 'GET', path = '/', body, timeout = 30_000 } = request;
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://127.0.0.1:${port}`, { ca, ...(servername ? { servername } : {}) });
    const timer = setTimeout(() => session.destroy(new Error(`no answer within ${timeout} ms`)), timeout);
    const fail = (error: Error) => {
      clearTimeout(timer);
      session.destroy();
      reject(error);
    };
    session.on('error', fail);
    const stream = session.request({
      ':method': method,
      ':path': path,
      ':authority': servername ?? '127.0.0.1',
      ...(body ? { 'content-length': String(body.length) } : {}),
    });
    stream.on('error', fail);
    let status = 0;
    let headers: TlsResponse['headers'] = {};
    stream.on('response', (h) => {
      status = Number(h[':status']);
      headers = h;
    });
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      clearTimeout(timer);
      const socket = session.socket as TLSSocket;
      const response = {
        status,
        headers,
        body: Buffer.concat(chunks),
        alpn: socket.alpnProtocol ?? false,
        servedCn: cnOf(socket),
      };
      session.close();
      resolve(response);
    });
    if (!body) {
      stream.end();
      return;
    }
    // write() returning false is flow control: wait for the peer's window before the next piece.
    let offset = 0;
    const pump = () => {
      while (offset < body.length) {
        const piece = body.subarray(offset, offset + 65_536);
        offset += piece.length;
        if (!stream.write(piece)) {
          stream.once('drain', pump);
          return;
        }
      }
      stream.end();
    };
    pump();
  });
}

/** One plain HTTP/1.1 request (to see the redirect). */
export function plain(
  port: number,
  path: string,
  host: string,
): Promise<{ status: number; location?: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { host } }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, location: res.headers.location, headers: res.headers }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}
