import { Agent, type IncomingMessage } from 'node:http';
import { createProxyServer } from 'http-proxy-3';
import { badGateway, prepareRequest, responseHeaders, serveTransport, transportArgs } from './rules.js';

/**
 * (a) http-proxy-3's native path with a keep-alive agent and selfHandleResponse, as our proxy
 * forwards today (without its retries, timeouts, health, metrics and access log).
 */
const { port, upstream } = transportArgs();

const ID = Symbol('requestId');
type Tagged = IncomingMessage & { [ID]?: string };

const agent = new Agent({ keepAlive: true, maxFreeSockets: 64, timeout: 60_000, scheduling: 'lifo' });
const proxy = createProxyServer({ xfwd: false });
proxy.on('error', () => {});
proxy.on('proxyRes', (proxyRes, req, res) => {
  res.writeHead(
    proxyRes.statusCode ?? 502,
    proxyRes.statusMessage,
    responseHeaders(proxyRes.rawHeaders, (req as Tagged)[ID]!),
  );
  proxyRes.once('error', () => res.destroy());
  proxyRes.pipe(res);
});

serveTransport(port, (req, res) => {
  const { requestId } = prepareRequest(req, res);
  (req as Tagged)[ID] = requestId;
  proxy.web(req, res, { target: upstream, agent, selfHandleResponse: true }, () =>
    badGateway(res, requestId),
  );
});
