import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { proxyWithTempFolder, rawClient, tempFiles } from '../helpers/buffering.js';
import { type Cleanup, head, request, servers, sleep, startProxy } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

const MIB = 1024 * 1024;
const BLOCK = randomBytes(MIB);
const BLOCKS = 32;
const expectedHash = (() => {
  const hash = createHash('sha256');
  for (let i = 0; i < BLOCKS; i++) hash.update(BLOCK);
  return hash.digest('hex');
})();

interface BigWorker {
  port: number;
  /** The worker's response 'finish' fired: all of it was handed to its socket. */
  finished: boolean;
}

/** A worker that answers every request with 32 MiB (with backpressure), plus `headers`. */
async function bigWorker(t: Cleanup, headers: OutgoingHttpHeaders = {}): Promise<BigWorker> {
  const worker: BigWorker = { port: 0, finished: false };
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': BLOCKS * MIB,
      ...headers,
    });
    res.on('finish', () => {
      worker.finished = true;
    });
    let sent = 0;
    const more = () => {
      while (sent < BLOCKS) {
        sent++;
        if (sent === BLOCKS) res.end(BLOCK);
        else if (!res.write(BLOCK)) return void res.once('drain', more);
      }
    };
    more();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  worker.port = (server.address() as AddressInfo).port;
  return worker;
}

/** A client that asks for the big response and reads nothing until `readAll()`. */
async function pausedClient(port: number, t: Cleanup) {
  const client = await rawClient(port, t);
  client.socket.pause();
  await client.write(head('GET /big HTTP/1.1', 'Host: a'));
  return {
    client,
    /** Reads the whole response; its status line, headers and body hash. */
    async readAll() {
      client.socket.resume();
      const message = await client.response;
      return { message, hash: createHash('sha256').update(message.body).digest('hex') };
    },
  };
}

describe('response buffering (buffering.response)', () => {
  test('a worker writing 32 MiB to a client that reads nothing is done within 10 s and released; the client then reads it all intact', async (t) => {
    const worker = await bigWorker(t);
    const { proxy, folder } = await proxyWithTempFolder(t, worker.port);
    const { readAll } = await pausedClient(proxy.port, t);
    await waitFor('the worker to finish its response', async () => worker.finished, 10_000, 50);
    const [upstream] = proxy.server.runtime.backends[0]!.pool.upstreams;
    await waitFor('the upstream hold to end', async () => upstream!.inFlight === 0, 10_000, 50);
    assert.ok(tempFiles(folder).length === 1, 'the response was not held in a temp file');
    const metrics = await request(proxy.statusPort, { path: '/metrics' });
    const gauge = /^gatehouse_buffer_temp_bytes (\d+)$/m.exec(metrics.text);
    assert.ok(gauge && Number(gauge[1]) > 0, `gatehouse_buffer_temp_bytes: ${gauge?.[0] ?? 'missing'}`);
    const { message, hash } = await readAll();
    assert.match(message.startLine, / 200 /);
    assert.equal(message.body.length, BLOCKS * MIB);
    assert.equal(hash, expectedHash);
    await waitFor(
      'no temp file left',
      async () => tempFiles(folder).length === 0 && proxy.server.tempSpace.bytes === 0,
    );
  });

  test('buffering.response false: a worker writing 32 MiB is not done while the client reads nothing', async (t) => {
    const worker = await bigWorker(t);
    const proxy = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      buffering: { response: false },
    });
    const { readAll } = await pausedClient(proxy.port, t);
    await sleep(1500);
    assert.equal(worker.finished, false, 'the worker finished while the client read nothing');
    assert.equal(proxy.server.tempSpace.files, 0);
    const { hash } = await readAll();
    assert.equal(hash, expectedHash);
  });

  test('buffering.max_temp_file_size: past it the worker waits for the client', async (t) => {
    const worker = await bigWorker(t);
    const { proxy, folder } = await proxyWithTempFolder(t, worker.port, { max_temp_file_size: '1m' });
    const { readAll } = await pausedClient(proxy.port, t);
    await waitFor(
      'a temp file of 1 MiB',
      async () => proxy.server.tempSpace.bytes >= MIB - 64 * 1024,
      10_000,
      50,
    );
    await sleep(1500);
    assert.equal(worker.finished, false, 'the worker finished: the temp file went past its size');
    assert.equal(tempFiles(folder).length, 1);
    assert.ok(proxy.server.tempSpace.bytes <= MIB, `${proxy.server.tempSpace.bytes} bytes in temp files`);
    const { hash } = await readAll();
    assert.equal(hash, expectedHash);
  });

  for (const [name, headers] of [
    ['X-Accel-Buffering: no', { 'X-Accel-Buffering': 'no' }],
    ['Content-Type: text/event-stream', { 'Content-Type': 'text/event-stream' }],
  ] as const) {
    test(`a response with ${name} is streamed: the worker is not done while the client reads nothing`, async (t) => {
      const worker = await bigWorker(t, headers);
      const proxy = await startProxy(t, { upstream: { servers: servers(worker.port) } });
      const { readAll } = await pausedClient(proxy.port, t);
      await sleep(1500);
      assert.equal(worker.finished, false, 'the worker finished while the client read nothing');
      assert.equal(proxy.server.tempSpace.files, 0);
      const { message, hash } = await readAll();
      assert.equal(hash, expectedHash);
      assert.ok(
        !message.headers.some(([field]) => field.toLowerCase() === 'x-accel-buffering'),
        'X-Accel-Buffering was passed to the client',
      );
    });
  }

  test('the temp file of a response is removed when the client goes away', async (t) => {
    const worker = await bigWorker(t);
    const { proxy, folder } = await proxyWithTempFolder(t, worker.port);
    const { client } = await pausedClient(proxy.port, t);
    await waitFor('a temp file', async () => tempFiles(folder).length === 1, 10_000, 50);
    client.socket.destroy();
    await waitFor(
      'no temp file left',
      async () =>
        tempFiles(folder).length === 0 &&
        proxy.server.tempSpace.bytes === 0 &&
        proxy.server.tempSpace.files === 0,
      10_000,
      50,
    );
  });
});
