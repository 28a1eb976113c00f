import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/**
 * A CGI server in the spirit of Apache's mod_cgi: for every request it starts `node app-once.js`,
 * hands it the request (environment + stdin) and relays what it prints.
 * `node dist/bench/cgi/cgi-server.js PORT`
 */
const SCRIPT = fileURLToPath(new URL('./app-once.js', import.meta.url));
const port = Number(process.argv[2]);

function cgiEnv(req: IncomingMessage): NodeJS.ProcessEnv {
  const [path = '/', query = ''] = (req.url ?? '/').split('?', 2);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_NAME: '127.0.0.1',
    SERVER_PORT: String(port),
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: path,
    QUERY_STRING: query,
    REMOTE_ADDR: req.socket.remoteAddress ?? '',
  };
  if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
  if (req.headers['content-type']) env.CONTENT_TYPE = req.headers['content-type'];
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') env[`HTTP_${name.toUpperCase().replaceAll('-', '_')}`] = value;
  }
  return env;
}

function relay(output: Buffer, res: ServerResponse): void {
  const end = output.indexOf('\r\n\r\n');
  if (end < 0) {
    res.writeHead(502).end();
    return;
  }
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of output.subarray(0, end).toString('latin1').split('\r\n')) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 200;
    else headers[name] = value;
  }
  const body = output.subarray(end + 4);
  headers['content-length'] = String(body.length);
  res.writeHead(status, headers);
  res.end(body);
}

const server = createServer((req, res) => {
  const child = spawn(process.execPath, [SCRIPT], { env: cgiEnv(req), stdio: ['pipe', 'pipe', 'ignore'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.once('close', (code) => {
    if (res.headersSent) return;
    if (code === 0) relay(Buffer.concat(chunks), res);
    else res.writeHead(502).end();
  });
  child.once('error', () => {
    if (!res.headersSent) res.writeHead(502).end();
  });
  child.stdin.on('error', () => {});
  req.pipe(child.stdin);
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
