import { createServer } from 'node:http';
import httpProxy from 'http-proxy';

/**
 * http-proxy 1.18 exactly as its README shows it: createProxyServer({}) and proxy.web() with a
 * target, no agent (so every request opens a new upstream connection and sends Connection: close).
 * `node dist/bench/baselines/http-proxy-readme.js PORT UPSTREAM_PORT`
 */
const [port, upstreamPort] = process.argv.slice(2).map(Number);
const proxy = httpProxy.createProxyServer({});
// The README's error example: without it one upstream error would end the process.
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = createServer((req, res) => {
  proxy.web(req, res, { target: `http://127.0.0.1:${upstreamPort}` });
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
