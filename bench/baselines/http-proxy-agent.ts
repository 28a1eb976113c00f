import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

/**
 * http-proxy 1.18 with the one change everyone makes after the first benchmark: a keep-alive agent
 * (idle pool sized as our proxy's default `keepalive 64`).
 * `node dist/bench/baselines/http-proxy-agent.js PORT UPSTREAM_PORT`
 */
const [port, upstreamPort] = process.argv.slice(2).map(Number);
const agent = new Agent({ keepAlive: true, maxFreeSockets: 64 });
const proxy = httpProxy.createProxyServer({ agent });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = createServer((req, res) => {
  proxy.web(req, res, { target: `http://127.0.0.1:${upstreamPort}` });
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
