import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { RequestBody } from '../../proxy/buffering/request-body.js';
import { ResponseBuffer } from '../../proxy/buffering/response-buffer.js';
import { TempSpace } from '../../proxy/buffering/temp-space.js';
import { modeOf, tempFiles } from '../helpers/buffering.js';
import type { Cleanup } from '../helpers/proxy.js';
import { waitFor } from '../helpers/wait.js';

const KIB = 1024;

function folder(t: Cleanup): string {
  const root = mkdtempSync(join(tmpdir(), 'gatehouse-buffering-unit-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return join(root, 'temp');
}

async function readAll(source: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(source)) return source;
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Waits until nothing is left in the temp space and its folder. */
function emptied(space: TempSpace, path: string): Promise<boolean> {
  return waitFor(
    'the temp space to empty',
    async () => space.bytes === 0 && space.files === 0 && tempFiles(path).length === 0,
    5000,
    10,
  );
}

describe('TempSpace', () => {
  test('reserve stays within max_disk and release gives back', () => {
    const space = new TempSpace();
    assert.equal(space.reserve(60, 100), true);
    assert.equal(space.reserve(50, 100), false);
    assert.equal(space.bytes, 60);
    space.release(60);
    assert.equal(space.reserve(100, 100), true);
  });

  test('files are 0600 in a 0700 folder made on demand, and removeAll takes every one away', async (t) => {
    const path = folder(t);
    const space = new TempSpace();
    const files = await Promise.all([space.create(path), space.create(path)]);
    assert.notEqual(files[0].path, files[1].path);
    assert.equal(modeOf(path), 0o700);
    for (const file of files) assert.equal(modeOf(file.path), 0o600);
    assert.equal(space.files, 2);
    space.removeAll();
    assert.equal(space.files, 0);
    assert.deepEqual(tempFiles(path), []);
    await Promise.all(files.map((file) => file.handle.close()));
  });
});

describe('RequestBody', () => {
  test('a body in one chunk within memory is sent as that very buffer, no copy, no file', (t) => {
    const space = new TempSpace();
    const body = new RequestBody(space, { memory: 16 * KIB, tempPath: folder(t), maxDisk: 1024 * KIB });
    const chunk = Buffer.from('hello');
    assert.equal(body.add(chunk), true);
    assert.equal(body.source(), chunk);
    assert.equal(body.spill, null);
    assert.equal(space.files, 0);
  });

  test('past memory the whole body goes to a temp file, read back intact for every attempt, removed on dispose', async (t) => {
    const path = folder(t);
    const space = new TempSpace();
    const body = new RequestBody(space, { memory: 16 * KIB, tempPath: path, maxDisk: 1024 * KIB });
    const parts = [randomBytes(10 * KIB), randomBytes(10 * KIB), randomBytes(100 * KIB)];
    for (const part of parts) assert.equal(body.add(part), true);
    assert.equal(space.bytes, 120 * KIB);
    await waitFor('the file written', async () => body.spill?.pending === 0, 5000, 10);
    const expected = Buffer.concat(parts);
    assert.deepEqual(await readAll(body.source()), expected);
    assert.deepEqual(await readAll(body.source()), expected, 'a second attempt read something else');
    body.dispose();
    await emptied(space, path);
  });

  test('a chunk that would take the temp space past max_disk is refused', (t) => {
    const space = new TempSpace();
    const body = new RequestBody(space, { memory: 16 * KIB, tempPath: folder(t), maxDisk: 32 * KIB });
    assert.equal(body.add(Buffer.alloc(20 * KIB)), true);
    assert.equal(body.add(Buffer.alloc(20 * KIB)), false);
    assert.equal(space.bytes, 20 * KIB);
    body.dispose();
  });
});

/** A client that takes `highWaterMark` bytes, then nothing until `take()`. */
class SlowClient extends Writable {
  received: Buffer[] = [];
  ended = false;
  private pending: (() => void) | null = null;
  private open = false;
  constructor() {
    super({ highWaterMark: 16 * KIB });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.received.push(chunk);
    if (this.open) callback();
    else this.pending = callback;
  }
  override _final(callback: () => void): void {
    this.ended = true;
    callback();
  }
  /** Reads everything from now on. */
  take(): void {
    this.open = true;
    this.pending?.();
    this.pending = null;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.received);
  }
}

/** The first 32 KiB write finds the client full; the buffer then holds what comes next. */
const FIRST = Buffer.alloc(32 * KIB, 1);

function slowResponse(t: Cleanup, maxTempFileSize: number, onRoom: () => void) {
  const path = folder(t);
  const space = new TempSpace();
  const client = new SlowClient();
  client.write(FIRST);
  const settings = { memory: 16 * KIB, tempPath: path, maxTempFileSize, maxDisk: 1024 * KIB };
  const buffer = new ResponseBuffer(client, space, settings, onRoom);
  /** The client got everything in order, the response ended, and no temp space is left. */
  async function deliveredWhole(parts: Buffer[]): Promise<void> {
    await waitFor('the response to end', async () => client.ended, 5000, 10);
    assert.deepEqual(client.bytes, Buffer.concat([FIRST, ...parts]));
    client.destroy();
    await emptied(space, path);
  }
  return { path, space, client, buffer, deliveredWhole };
}

describe('ResponseBuffer', () => {
  test('holds what a slow client cannot take (memory, then the file), keeps the order, and ends the response after', async (t) => {
    let room: () => void = () => {};
    const { space, client, buffer, deliveredWhole } = slowResponse(t, 1024 * KIB, () => room());
    const parts = Array.from({ length: 20 }, (_, i) => Buffer.alloc(16 * KIB, i + 2));
    // The upstream may be paused while the file's writes catch up, never for want of a reader.
    for (const part of parts) {
      if (!buffer.push(part)) await new Promise<void>((resolve) => (room = resolve));
    }
    assert.equal(client.received.length, 1, 'the client took more than its first write');
    assert.equal(space.files, 1, 'past 64 KiB of memory nothing went to a file');
    buffer.end();
    client.take();
    await deliveredWhole(parts);
  });

  test('past max_temp_file_size the upstream is paused, and told when there is room again; nothing is lost', async (t) => {
    let rooms = 0;
    const { space, client, buffer, deliveredWhole } = slowResponse(t, 64 * KIB, () => rooms++);
    const parts = Array.from({ length: 12 }, (_, i) => Buffer.alloc(16 * KIB, i + 2));
    const accepted = parts.map((part) => buffer.push(part));
    assert.deepEqual(accepted.slice(0, 7), [true, true, true, true, true, true, true]);
    assert.equal(accepted.at(-1), false, 'the upstream was never paused');
    assert.ok(space.bytes <= 64 * KIB);
    client.take();
    await waitFor('room again', async () => rooms > 0, 5000, 10);
    buffer.end();
    await deliveredWhole(parts);
  });

  test('a client that goes away takes the held bytes and the temp file with it', async (t) => {
    const { path, space, client, buffer } = slowResponse(t, 1024 * KIB, () => {});
    for (let i = 0; i < 10; i++) buffer.push(Buffer.alloc(16 * KIB, i));
    await waitFor('a temp file', async () => tempFiles(path).length === 1, 5000, 10);
    client.destroy();
    await emptied(space, path);
    assert.equal(buffer.held, 0);
  });
});
