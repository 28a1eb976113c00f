import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDrainer, type Drainer, IDLE_CLOSE_AFTER } from '../../process/drain.js';

/** POST /echo on `agent`; `onSent` runs once the request is on the wire (before the server read it). */
function post(
  port: number,
  agent: Agent,
  body: string,
  onSent?: () => void,
): Promise<{ status: number; body: string; close: boolean } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/echo',
        agent,
        headers: { 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: text, close: res.headers.connection === 'close' }),
        );
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    if (onSent) req.on('finish', onSent);
    req.end(body);
  });
}

// The proxy keeps spare keep-alive connections to each worker; some sit idle for seconds. When the
// worker's drain begins, a request the proxy has just written into one of them must be answered
// (with Connection: close), not reset: a POST that met a reset cannot be sent again, and the client
// gets a 502. Seen under pm2 as POST 502s (GH_ERR_UPSTREAM_RESET) on the worker `pm2 scale` stopped.
describe('drain: keep-alive connections idle before the drain began', { timeout: 30_000 }, () => {
  let server: Server;
  let drainer: Drainer;
  let port: number;

  before(async () => {
    server = createServer((req, res) => {
      drainer.track(res);
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => res.end(body));
    });
    drainer = createDrainer(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => server.closeAllConnections());

  test('a request written into one as the drain starts is answered with Connection: close, not reset', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      assert.deepEqual(await post(port, agent, 'first'), { status: 200, body: 'first', close: false });
      // Idle longer than IDLE_CLOSE_AFTER before the drain: the idle time that counts is the drain's.
      await sleep(IDLE_CLOSE_AFTER + 300);
      let draining: Promise<number> | undefined;
      const answer = await post(port, agent, 'second', () => {
        draining = drainer.drain(10_000);
      });
      assert.deepEqual(answer, { status: 200, body: 'second', close: true });
      assert.equal(await draining, 0, 'nothing left in flight');
    } finally {
      agent.destroy();
    }
  });
});

// Connections the kernel accepted while the worker's event loop was busy wait in the listener's
// accept queue, their requests written. Closing the listener resets every one of them: a POST lost
// that way cannot be sent again (seen as a POST 502 on the Koa worker that SIGTERM stopped under
// load, on a loaded CI machine). The drain accepts them before it closes the listener.
describe('drain: connections waiting in the accept queue when the drain begins', { timeout: 30_000 }, () => {
  const QUEUED = 30;

  test('are served with Connection: close, none reset', async () => {
    const server = createServer((req, res) => {
      drainer.track(res);
      req.resume();
      req.on('end', () => res.end('served'));
    });
    const drainer = createDrainer(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-drain-'));
    const ready = join(dir, 'ready');
    try {
      // Another process connects and writes a POST on each connection while this event loop is
      // blocked (as a busy worker's is), so all of them wait in the queue when the drain begins.
      const client = spawn(process.execPath, ['-e', queuedClient, String(port), String(QUEUED), ready], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      client.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
      });
      const exited = once(client, 'exit');
      const deadline = Date.now() + 15_000;
      while (!existsSync(ready) && Date.now() < deadline) Atomics.wait(BLOCK, 0, 0, 5);
      assert.ok(existsSync(ready), 'the client connected within 15 s');
      const drained = drainer.drain(10_000);
      await exited;
      const answers = JSON.parse(out) as string[];
      assert.equal(answers.length, QUEUED);
      assert.deepEqual(
        answers.filter((answer) => answer !== '200 close'),
        [],
        `${QUEUED} queued connections: each answered 200 with Connection: close`,
      );
      assert.equal(await drained, 0);
    } finally {
      server.closeAllConnections();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Two requests pipelined on one connection, both in flight when the drain begins: the connection
// closes after the second (newest) response, and the first goes out as usual before it — not a
// close after the first that would drop the second unanswered.
describe('drain: pipelined requests in flight when the drain begins', { timeout: 30_000 }, () => {
  test('both are answered; only the newest says Connection: close', async () => {
    const held: ServerResponse[] = [];
    const server = createServer((req, res) => {
      drainer.track(res);
      req.resume();
      held.push(res);
    });
    const drainer = createDrainer(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const socket = connect(port, '127.0.0.1');
    try {
      let text = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => {
        text += chunk;
      });
      const closed = once(socket, 'close');
      socket.write('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
      const deadline = Date.now() + 10_000;
      while (held.length < 2 && Date.now() < deadline) await sleep(10);
      assert.equal(held.length, 2, 'both pipelined requests reached the server');
      const drained = drainer.drain(10_000);
      for (const [i, res] of held.entries()) res.end(`answer ${i + 1}`);
      await closed;
      const heads = text.split(/HTTP\/1\.1 /).slice(1);
      assert.equal(heads.length, 2, `two responses, got: ${JSON.stringify(text)}`);
      assert.match(heads[0]!, /^200 [\s\S]*\r\nConnection: keep-alive\r\n[\s\S]*answer 1$/);
      assert.match(heads[1]!, /^200 [\s\S]*\r\nConnection: close\r\n[\s\S]*answer 2$/);
      assert.equal(await drained, 0);
    } finally {
      socket.destroy();
      server.closeAllConnections();
    }
  });
});

/** Sleeps this thread without turning the event loop (Atomics.wait on a value that never changes). */
const BLOCK = new Int32Array(new SharedArrayBuffer(4));

/**
 * The client: QUEUED connections, a POST written on each; the `ready` file once every one is
 * connected and written; then, on stdout, each one's answer ("200 close") or error code, as JSON.
 */
const queuedClient = `
const net = require('node:net');
const fs = require('node:fs');
const [port, count, ready] = process.argv.slice(1);
let written = 0;
const answers = Array.from({ length: Number(count) }, () => new Promise((resolve) => {
  const socket = net.connect(Number(port), '127.0.0.1', () => {
    socket.write('POST /echo HTTP/1.1\\r\\nHost: worker\\r\\nContent-Length: 2\\r\\n\\r\\nhi', () => {
      if (++written === Number(count)) fs.writeFileSync(ready, '');
    });
  });
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk) => { text += chunk; });
  socket.on('error', (err) => resolve(err.code));
  socket.on('close', () => {
    const status = text.slice(9, 12);
    resolve(status ? status + (/\\r\\nconnection: close\\r\\n/i.test(text) ? ' close' : ' keep-alive') : 'closed unanswered');
  });
}));
Promise.all(answers).then((all) => { process.stdout.write(JSON.stringify(all)); });
setTimeout(() => process.exit(1), 20000).unref();
`;
