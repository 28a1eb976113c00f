import tinyApp from './tiny-app.js';

/**
 * CGI (RFC 3875) as it was: one process per request. The request arrives as environment
 * variables and stdin, the response leaves on stdout as a `Status:` line, header lines, a blank
 * line and the body — then the process exits. Here the process is a fresh `node`.
 */
async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const env = process.env;
const method = env.REQUEST_METHOD ?? 'GET';
const query = env.QUERY_STRING ? `?${env.QUERY_STRING}` : '';
const url = `http://${env.SERVER_NAME ?? 'localhost'}:${env.SERVER_PORT ?? '80'}${env.PATH_INFO ?? '/'}${query}`;
const headers = new Headers();
for (const [name, value] of Object.entries(env)) {
  if (name.startsWith('HTTP_') && value !== undefined) headers.set(name.slice(5).replaceAll('_', '-'), value);
}
if (env.CONTENT_TYPE) headers.set('content-type', env.CONTENT_TYPE);
const hasBody = method !== 'GET' && method !== 'HEAD';
const body = hasBody ? Uint8Array.from(await readStdin()) : undefined;
const response = await tinyApp(new Request(url, { method, headers, body }));
const payload = Buffer.from(await response.arrayBuffer());
let head = `Status: ${response.status} ${response.statusText || 'OK'}\r\n`;
for (const [name, value] of response.headers) head += `${name}: ${value}\r\n`;
process.stdout.write(Buffer.concat([Buffer.from(`${head}\r\n`), payload]));
