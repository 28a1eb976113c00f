import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  chunk,
  LAST_CHUNK,
  modeOf,
  proxyWithTempFolder,
  rawClient,
  tempFiles,
} from '../helpers/buffering.js';
import { closedPort, head, rawExchange, request, servers, sleep, startProxy } from '../helpers/proxy.js';
import { createRawBackend, headerValue, type RawBackend } from '../helpers/raw-backend.js';
import { waitFor } from '../helpers/wait.js';

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function backend(t: { after(fn: () => unknown): void }, options = {}): Promise<RawBackend> {
  const started = await createRawBackend(options);
  t.after(() => started.close());
  return started;
}

/** Until the temp folder is empty and the proxy counts no temp space in use. */
async function noTempLeft(folder: string, space: { bytes: number; files: number }): Promise<void> {
  await waitFor(
    `no temp file left (files: ${tempFiles(folder).join(', ')}; bytes ${space.bytes})`,
    async () => tempFiles(folder).length === 0 && space.bytes === 0 && space.files === 0,
    10_000,
    50,
  );
}

describe('request buffering (buffering.request)', () => {
  test('a chunked upload reaches the worker only after its last byte, framed by Content-Length without Transfer-Encoding', async (t) => {
    const worker = await backend(t);
    const proxy = await startProxy(t, { upstream: { servers: servers(worker.port) } });
    const client = await rawClient(proxy.port, t);
    await client.write(head('POST /late HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked'));
    await client.write(chunk('first part, '));
    await sleep(300);
    assert.equal(worker.connections, 0, 'the proxy contacted the worker before the body was complete');
    await client.write(Buffer.concat([chunk('last part'), Buffer.from(LAST_CHUNK)]));
    const response = await client.response;
    assert.match(response.startLine, / 200 /);
    const received = worker.requests.find((r) => r.target === '/late');
    assert.ok(received, 'the worker got no request');
    assert.equal(received.body.toString(), 'first part, last part');
    assert.equal(received.framing, 'length');
    assert.equal(headerValue(received, 'content-length'), String('first part, last part'.length));
    assert.equal(headerValue(received, 'transfer-encoding'), undefined);
  });

  test('buffering.memory and temp_path: a body under memory stays in memory; one over it goes through a 0600 temp file there, removed after, and arrives intact', async (t) => {
    const worker = await backend(t);
    const { proxy, folder } = await proxyWithTempFolder(
      t,
      worker.port,
      { memory: '64k' },
      { client_max_body_size: '8m' },
    );
    const space = proxy.server.tempSpace;

    // 48 KiB: over the default 16k, under the configured 64k.
    const small = randomBytes(48 * 1024);
    const first = await rawClient(proxy.port, t);
    await first.write(head('POST /small HTTP/1.1', 'Host: a', `Content-Length: ${small.length}`));
    await first.write(small.subarray(0, 40 * 1024));
    await sleep(200);
    assert.equal(space.files, 0, 'a body under buffering.memory went to a temp file');
    assert.deepEqual(tempFiles(folder), []);
    await first.write(small.subarray(40 * 1024));
    assert.match((await first.response).startLine, / 200 /);
    assert.equal(sha(worker.requests.find((r) => r.target === '/small')!.body), sha(small));

    const large = randomBytes(3 * 1024 * 1024 + 123);
    const second = await rawClient(proxy.port, t);
    await second.write(
      head(
        'POST /large HTTP/1.1',
        'Host: a',
        'Content-Length: 4194304'.replace('4194304', String(large.length)),
      ),
    );
    await second.write(large.subarray(0, 1024 * 1024));
    // The file is on disk once open(2) returns; the proxy counts it when the open's callback runs,
    // a turn of the event loop later: wait for both.
    const [file] = await waitFor('a temp file in temp_path, counted', async () => {
      const files = tempFiles(folder);
      return files.length === 1 && space.files === 1 && files;
    });
    assert.equal(modeOf(file!), 0o600);
    assert.equal(modeOf(folder), 0o700);
    assert.ok(space.bytes > 0);
    assert.ok(
      !worker.received.some((bytes) => bytes.includes('POST /large')),
      'the worker got part of the request before the body was in',
    );
    await second.write(large.subarray(1024 * 1024));
    assert.match((await second.response).startLine, / 200 /);
    const received = worker.requests.find((r) => r.target === '/large');
    assert.equal(received?.body.length, large.length);
    assert.equal(sha(received!.body), sha(large));
    await noTempLeft(folder, space);
  });

  test('the temp file is removed when the client goes away mid-upload', async (t) => {
    const worker = await backend(t);
    const { proxy, folder } = await proxyWithTempFolder(t, worker.port);
    const client = await rawClient(proxy.port, t);
    await client.write(head('POST /abort HTTP/1.1', 'Host: a', 'Content-Length: 500000'));
    await client.write(randomBytes(200_000));
    await waitFor('a temp file', async () => tempFiles(folder).length === 1);
    client.socket.destroy();
    await noTempLeft(folder, proxy.server.tempSpace);
    assert.equal(worker.connections, 0);
  });

  test('the temp file is removed when the proxy shuts down mid-upload', async (t) => {
    const worker = await backend(t);
    const { proxy, folder } = await proxyWithTempFolder(t, worker.port, {}, { timeouts: { shutdown: '1s' } });
    const client = await rawClient(proxy.port, t);
    await client.write(head('POST /shutdown HTTP/1.1', 'Host: a', 'Content-Length: 500000'));
    await client.write(randomBytes(200_000));
    await waitFor('a temp file', async () => tempFiles(folder).length === 1);
    await proxy.close();
    assert.deepEqual(tempFiles(folder), []);
    assert.equal(proxy.server.tempSpace.files, 0);
    assert.equal(worker.connections, 0);
  });

  test('the temp file is removed after a 413 for a chunked body over client_max_body_size', async (t) => {
    const worker = await backend(t);
    const { proxy, folder } = await proxyWithTempFolder(t, worker.port, {}, { client_max_body_size: '100k' });
    const reply = await rawExchange(
      proxy.port,
      [
        head('POST /big HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked'),
        chunk(randomBytes(150_000)),
        LAST_CHUNK,
      ],
      { untilResponse: true },
    );
    assert.equal(reply.status, 413, reply.text.slice(0, 200));
    await noTempLeft(folder, proxy.server.tempSpace);
    assert.equal(worker.connections, 0);
  });

  test('the temp file is removed after the upstream failed (502)', async (t) => {
    const { proxy, folder } = await proxyWithTempFolder(t, await closedPort());
    const reply = await request(proxy.port, { method: 'POST', path: '/x', body: randomBytes(200_000) });
    assert.equal(reply.status, 502);
    await noTempLeft(folder, proxy.server.tempSpace);
  });

  test('a chunked body of 2 MiB over a 1 MiB limit gets a 413 the client reads (Connection: close, 5 runs), and the worker gets no byte', async (t) => {
    const worker = await backend(t);
    const proxy = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      client_max_body_size: '1m',
    });
    const piece = chunk(Buffer.alloc(64 * 1024, 'z'));
    const body = Array.from({ length: 32 }, () => piece);
    for (let run = 1; run <= 5; run++) {
      const reply = await rawExchange(
        proxy.port,
        [
          head('POST /upload HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked', 'Connection: close'),
          ...body,
          LAST_CHUNK,
        ],
        { untilResponse: true, wait: 15_000 },
      );
      assert.equal(reply.status, 413, `run ${run}: ${reply.text.slice(0, 200) || '(no response)'}`);
      assert.match(reply.text, /413 Content Too Large/);
    }
    assert.equal(worker.connections, 0, 'the worker was contacted');
  });

  test('buffering.max_disk: a body that would need more temp space gets 503 with Retry-After', async (t) => {
    const worker = await backend(t);
    const { proxy, folder } = await proxyWithTempFolder(t, worker.port, { max_disk: '64k' });
    // 32 KiB fits in the temp space (the first 16 KiB in memory, the rest on disk)...
    const fits = await request(proxy.port, { method: 'POST', path: '/fits', body: randomBytes(32 * 1024) });
    assert.equal(fits.status, 200);
    // ...200 KiB does not.
    const reply = await request(proxy.port, { method: 'POST', path: '/full', body: randomBytes(200 * 1024) });
    assert.equal(reply.status, 503, reply.text);
    assert.ok(Number(reply.headers['retry-after']) > 0, 'no Retry-After');
    assert.ok(!worker.requests.some((r) => r.target === '/full'));
    await noTempLeft(folder, proxy.server.tempSpace);
  });

  test('a POST whose first worker refuses the connection is sent, whole, to the next one', async (t) => {
    const refusing = await closedPort();
    const worker = await backend(t);
    const proxy = await startProxy(t, {
      upstream: { servers: servers(refusing, worker.port), max_fails: 0 },
    });
    // Over buffering.memory: each attempt reads the temp file again.
    const body = randomBytes(100_000);
    for (let i = 0; i < 2; i++) {
      const reply = await request(proxy.port, { method: 'POST', path: `/post-${i}`, body });
      assert.equal(reply.status, 200, reply.text);
    }
    assert.ok(
      proxy.logs.some((l) => l.msg === 'upstream failed; trying the next upstream'),
      'no request was tried on the refusing worker first',
    );
    for (let i = 0; i < 2; i++) {
      assert.equal(sha(worker.requests.find((r) => r.target === `/post-${i}`)!.body), sha(body));
    }
  });

  test('a POST whose worker reset after reading the request is not sent to another (502)', async (t) => {
    const resetting = await backend(t, { answer: 'reset' });
    const other = await backend(t);
    const proxy = await startProxy(t, {
      upstream: { servers: servers(resetting.port, other.port), max_fails: 0 },
    });
    // Round robin: one of the two goes to the resetting worker first.
    const replies = await Promise.all(
      [0, 1].map((i) => request(proxy.port, { method: 'POST', path: `/once-${i}`, body: 'payload' })),
    );
    const reset = resetting.requests.map((r) => r.target);
    assert.equal(reset.length, 1, `the resetting worker got ${reset.join(', ') || 'nothing'}`);
    const index = Number(reset[0]!.slice('/once-'.length));
    assert.equal(replies[index]!.status, 502);
    assert.ok(!other.requests.some((r) => r.target === reset[0]), 'the POST was sent again');
  });

  test('buffering.request false: the body streams, the worker sees its first bytes before the client sent the last', async (t) => {
    const worker = await backend(t);
    const proxy = await startProxy(t, {
      upstream: { servers: servers(worker.port) },
      buffering: { request: false },
    });
    const client = await rawClient(proxy.port, t);
    await client.write(head('POST /streamed HTTP/1.1', 'Host: a', 'Transfer-Encoding: chunked'));
    await client.write(chunk('early bytes'));
    await waitFor(
      'the first bytes at the worker',
      async () => worker.received.some((bytes) => bytes.includes('early bytes')),
      10_000,
    );
    await client.write(Buffer.concat([chunk(' and the rest'), Buffer.from(LAST_CHUNK)]));
    assert.match((await client.response).startLine, / 200 /);
    assert.equal(
      worker.requests.find((r) => r.target === '/streamed')?.body.toString(),
      'early bytes and the rest',
    );
  });
});
