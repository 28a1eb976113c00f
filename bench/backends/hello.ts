import { createServer } from 'node:http';

/**
 * The minimal backend: as little work per request as node:http allows, so what a front costs is
 * what the bench measures. `node dist/bench/backends/hello.js PORT`
 *   GET /       12 bytes      GET /16k   16 KiB      POST any  body read, 12 bytes back
 *   GET /headers  the request headers as JSON (the transport study checks header rules with it)
 */
const port = Number(process.argv[2]);
const small = Buffer.from('Hello world\n');
const large = Buffer.alloc(16 * 1024, 'x');
const plain = (length: number) => ({ 'Content-Type': 'text/plain', 'Content-Length': length });

const server = createServer((req, res) => {
  if (req.method === 'POST' || req.method === 'PUT') {
    req.resume();
    req.once('end', () => {
      res.writeHead(200, plain(small.length));
      res.end(small);
    });
    return;
  }
  if (req.url === '/16k') {
    res.writeHead(200, plain(large.length));
    res.end(large);
    return;
  }
  if (req.url === '/headers') {
    const body = JSON.stringify(req.headers);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  res.writeHead(200, plain(small.length));
  res.end(small);
});
// Longer than every front's idle upstream timeout: the front, not the backend, closes idle sockets.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
