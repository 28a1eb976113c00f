import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { headerValues } from '../helpers/raw-backend.js';
import { type ConformanceCase, describe, nothingForwarded, onlyRequest, sha, sleep } from './case.js';
import { openExchange, rawRequest } from './raw-client.js';
import { createScriptedBackend, written } from './scripted-backend.js';

// Buffering (issue 14), with the default config (both ways on): a slow client never holds a
// worker. Request buffering: the worker gets nothing until the whole body is in. Response
// buffering: the worker's answer is taken as fast as it is written, whatever the client reads.

/** `promise`'s value, or undefined once `ms` have passed (the timer does not outlive the race). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One chunk of a chunked body. */
const chunk = (data: Buffer) =>
  Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);

/** A body of `size` bytes no run of which repeats soon: a lost or doubled piece changes its hash. */
function pattern(size: number): Buffer {
  const body = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);
  return body;
}

const chunkedUpload: ConformanceCase = {
  name: 'a chunked upload reaches the worker only once wholly sent, with a Content-Length (request buffering)',
  backends: [{ kind: 'raw' }],
  async check(env) {
    // 70k, over buffering.memory (16k): the body goes through a temp file.
    const parts = [pattern(40 * 1024), pattern(30 * 1024), Buffer.from('the end')];
    const body = Buffer.concat(parts);
    const open = openExchange(env.port, { method: 'POST' });
    await open.write(
      rawRequest(
        ['POST /upload HTTP/1.1', 'Host: client.example', 'Transfer-Encoding: chunked'],
        chunk(parts[0]!),
      ),
    );
    await sleep(300);
    assert.equal(env.raw[0]!.connections, 0, 'the worker was contacted before the last body byte was sent');
    await open.write(Buffer.concat([chunk(parts[1]!), chunk(parts[2]!), Buffer.from('0\r\n\r\n')]));
    const response = await open.response;
    assert.equal(response.status, 200, describe(response));
    const request = onlyRequest(env);
    assert.deepEqual(headerValues(request, 'transfer-encoding'), [], request.head);
    assert.deepEqual(headerValues(request, 'content-length'), [String(body.length)], request.head);
    assert.ok(
      sha(request.body) === sha(body),
      `the worker got ${request.body.length} of ${body.length} bytes`,
    );
  },
};

const chunkedOverLimit: ConformanceCase = {
  name: 'a chunked body over client_max_body_size gets 413 and no worker is contacted',
  backends: [{ kind: 'raw' }],
  overrides: { client_max_body_size: '1k' },
  async check(env) {
    // No length up front: the front can only count the chunks as they come. The first is under the
    // limit and comes alone, so a front that streams has picked a worker before the body is too large.
    const piece = chunk(Buffer.alloc(512, 'c'));
    const open = openExchange(env.port, { method: 'POST' });
    await open.write(
      rawRequest(['POST /upload HTTP/1.1', 'Host: client.example', 'Transfer-Encoding: chunked'], piece),
    );
    await sleep(200);
    await open.write(Buffer.concat([...Array.from({ length: 7 }, () => piece), Buffer.from('0\r\n\r\n')]));
    const response = await open.response;
    assert.equal(response.status, 413, describe(response));
    nothingForwarded(env);
  },
};

/**
 * "X-Accel-Buffering: no" on a Content-Length answer, whose first part the worker writes and then
 * holds the rest until the client has it. Buffered, nginx would hold so small a part (its buffer is
 * not full); unbuffered it goes out at once.
 */
function unbufferedStream(): ConformanceCase {
  const first = 'first part, sent while the worker holds the rest\n';
  const rest = 'the rest\n';
  let clientHasFirst: () => void = () => {};
  let restWritten = false;
  return {
    name: 'a worker\'s "X-Accel-Buffering: no" answer streams: the client gets its first part while the worker holds the rest; the header is not passed on',
    backends: [
      {
        kind: 'scripted',
        start() {
          restWritten = false;
          const hasFirst = new Promise<void>((resolve) => {
            clientHasFirst = resolve;
          });
          return createScriptedBackend(async (socket) => {
            const length = Buffer.byteLength(first) + Buffer.byteLength(rest);
            await written(
              socket,
              `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Accel-Buffering: no\r\nContent-Length: ${length}\r\n\r\n${first}`,
            );
            // Not forever: a front that holds the first part gets the rest, and the case says why it failed.
            await within(hasFirst, 5000);
            restWritten = true;
            await written(socket, rest);
          });
        },
      },
    ],
    async check(env) {
      const open = openExchange(env.port);
      await open.write(rawRequest(['GET /stream HTTP/1.1', 'Host: client.example']));
      for (let waited = 0; !open.received().includes(first) && waited < 4000; waited += 20) await sleep(20);
      const early = open.received().includes(first) && !restWritten;
      clientHasFirst();
      const response = await open.response;
      assert.ok(
        early,
        `the client did not get the first part while the worker held the rest:\n${describe(response)}`,
      );
      assert.equal(response.status, 200, describe(response));
      assert.equal(response.body.toString(), first + rest, describe(response));
      assert.deepEqual(headerValues(response, 'x-accel-buffering'), [], describe(response));
    },
  };
}

/** What a client that read nothing until now reads of one response: its head, and its body's size and hash. */
function readAll(
  socket: Socket,
  timeout: number,
): Promise<{ head: string; bodyBytes: number; bodySha: string }> {
  return new Promise((resolve, reject) => {
    let head: string | undefined;
    let pending = Buffer.alloc(0);
    let bodyBytes = 0;
    let expected = Number.POSITIVE_INFINITY;
    const hash = createHash('sha256');
    const timer = setTimeout(
      () => reject(new Error(`read ${bodyBytes} body bytes in ${timeout} ms; head: ${head ?? '(none)'}`)),
      timeout,
    );
    const take = (body: Buffer) => {
      const part = body.subarray(0, expected - bodyBytes);
      hash.update(part);
      bodyBytes += part.length;
      if (bodyBytes >= expected) {
        clearTimeout(timer);
        resolve({ head: head ?? '', bodyBytes, bodySha: hash.digest('hex') });
      }
    };
    socket.on('data', (data: Buffer) => {
      if (head !== undefined) return take(data);
      pending = Buffer.concat([pending, data]);
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      head = pending.toString('latin1', 0, end + 4);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!length) {
        clearTimeout(timer);
        reject(new Error(`a response without Content-Length:\n${head}`));
        return;
      }
      expected = Number(length[1]);
      take(pending.subarray(end + 4));
    });
    socket.resume();
  });
}

/**
 * A worker's answer far larger than the socket buffers between it and a client that reads nothing:
 * buffered, the front takes it all (memory, then a temp file) and the worker's last write completes;
 * unbuffered ("X-Accel-Buffering: no"), the worker waits on the client.
 */
function largeAnswer(options: { accelBuffering?: 'no' }): ConformanceCase {
  const size = 32 * 1024 * 1024;
  let body: Buffer | undefined;
  let finished: Promise<number> = Promise.resolve(0);
  const buffered = options.accelBuffering === undefined;
  return {
    name: buffered
      ? "a worker's 32 MiB answer to a client that reads nothing is taken whole within 10 s: the worker is free (response buffering)"
      : 'with "X-Accel-Buffering: no" a client that reads nothing holds the worker: its 32 MiB answer is not taken within 2 s',
    backends: [
      {
        kind: 'scripted',
        start() {
          body ??= pattern(size);
          const answer = body;
          let done: (at: number) => void = () => {};
          finished = new Promise((resolve) => {
            done = resolve;
          });
          return createScriptedBackend(async (socket) => {
            const accel = buffered ? '' : 'X-Accel-Buffering: no\r\n';
            await written(
              socket,
              `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n${accel}Content-Length: ${size}\r\n\r\n`,
            );
            await written(socket, answer);
            done(performance.now());
          });
        },
      },
    ],
    async check(env) {
      const client = connect(env.port, '127.0.0.1');
      client.on('error', () => {});
      // Paused: Node reads a socket's first bytes (up to its high-water mark), then nothing more.
      client.pause();
      try {
        client.write(rawRequest(['GET /large HTTP/1.1', 'Host: client.example']));
        const freed = await within(finished, buffered ? 10_000 : 2000);
        if (buffered) {
          assert.ok(
            freed !== undefined,
            'the worker was still writing after 10 s while the client read nothing',
          );
        } else {
          assert.equal(freed, undefined, 'the worker finished writing though the client read nothing');
        }
        const answer = await readAll(client, 30_000);
        assert.match(answer.head, /^HTTP\/1\.1 200 /, answer.head);
        assert.equal(answer.bodyBytes, size);
        assert.ok(answer.bodySha === sha(body!), 'the body the client read is not the one the worker wrote');
        assert.doesNotMatch(answer.head, /x-accel-buffering/i, answer.head);
      } finally {
        client.destroy();
      }
    },
  };
}

export const bufferingCases: ConformanceCase[] = [
  chunkedUpload,
  chunkedOverLimit,
  unbufferedStream(),
  largeAnswer({}),
  largeAnswer({ accelBuffering: 'no' }),
];
