import type { IncomingMessage } from 'node:http';
import { createProxyServer } from 'http-proxy-3';
import { Agent, fetch as undiciFetch } from 'undici';
import {
  badGateway,
  prepareRequest,
  responseHeadersFromObject,
  serveTransport,
  transportArgs,
} from './rules.js';

/**
 * (b) http-proxy-3's `fetch` option, backed by undici's fetch and an undici Agent (keep-alive).
 * On this path http-proxy-3 builds a Headers object per request, a fake proxyRes from
 * response.headers and pipes Readable.from(response.body); the response head is cleaned in the
 * proxyRes event, before http-proxy-3's own passes write it.
 */
const { port, upstream } = transportArgs();

const ID = Symbol('requestId');
type Tagged = IncomingMessage & { [ID]?: string };

const dispatcher = new Agent({ keepAliveTimeout: 60_000, pipelining: 1 });
const viaUndici = ((url: string, init: object) =>
  undiciFetch(url, { ...init, dispatcher })) as unknown as typeof fetch;
const proxy = createProxyServer({ xfwd: false });
proxy.on('error', () => {});
proxy.on('proxyRes', (proxyRes, req) => {
  const cleaned = responseHeadersFromObject(proxyRes.headers, (req as Tagged)[ID]!);
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < cleaned.length; i += 2) headers[cleaned[i]!] = cleaned[i + 1]!;
  proxyRes.headers = headers;
});

serveTransport(port, (req, res) => {
  const { requestId } = prepareRequest(req, res);
  (req as Tagged)[ID] = requestId;
  proxy.web(req, res, { target: upstream, fetch: viaUndici }, () => badGateway(res, requestId));
});
