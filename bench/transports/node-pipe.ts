import { Agent, request } from 'node:http';
import { badGateway, prepareRequest, responseHeaders, serveTransport, transportArgs } from './rules.js';

/** (d) node:http.request with a keep-alive agent; bodies moved with .pipe() both ways. */
const { port, upstream } = transportArgs();

const agent = new Agent({ keepAlive: true, maxFreeSockets: 64, timeout: 60_000, scheduling: 'lifo' });

serveTransport(port, (req, res) => {
  const { requestId } = prepareRequest(req, res);
  const proxyReq = request({
    host: upstream.host,
    port: upstream.port,
    method: req.method,
    path: req.url,
    headers: req.headers,
    agent,
  });
  proxyReq.once('response', (proxyRes) => {
    res.writeHead(
      proxyRes.statusCode ?? 502,
      proxyRes.statusMessage,
      responseHeaders(proxyRes.rawHeaders, requestId),
    );
    proxyRes.once('error', () => res.destroy());
    proxyRes.pipe(res);
  });
  proxyReq.once('error', () => badGateway(res, requestId));
  res.once('close', () => {
    if (!res.writableFinished) proxyReq.destroy();
  });
  req.pipe(proxyReq);
});
