import assert from 'node:assert/strict';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
