import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';

/**
 * The ceiling of a Node front over TLS: node's own TLS and HTTP/2 servers (ALPN h2 and http/1.1 on
 * one port) answering the hello backend's 12 bytes themselves, with no proxying and no request
 * path. No Node front that proxies can beat it; `npm run bench -- --tls` runs it beside nginx so
 * the ratios of our proxy read against what one Node process can do at all.
 * `node dist/bench/backends/tls-hello.js PORT CERT KEY`
 */
const [port, cert, key] = process.argv.slice(2) as [string, string, string];
const small = Buffer.from('Hello world\n');

const server = createSecureServer(
  { cert: readFileSync(cert), key: readFileSync(key), allowHTTP1: true, minVersion: 'TLSv1.2' },
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': small.length });
    res.end(small);
  },
);
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
