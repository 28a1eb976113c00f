import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogStream, failureReason } from '../../deploy/pm2/log-stream.js';

function sink(): { write(text: string): void; text(): string } {
  let text = '';
  return {
    write(chunk) {
      text += chunk;
    },
    text: () => text,
  };
}

const request = JSON.stringify({
  level: 30,
  time: '2026-01-01T12:00:01.000Z',
  pid: 5,
  hostname: 'vm',
  instance: 0,
  port: 8001,
  name: 'worker',
  method: 'GET',
  path: '/',
  status: 200,
  duration: 2,
  msg: 'request',
});

describe("the processes' output in gatehouse up", () => {
  test('whole lines only, each on the stream it came from, even when pm2 splits them', () => {
    const out = sink();
    const err = sink();
    const logs = createLogStream({ tty: false, out, err });
    logs.push({ name: 'gatehouse-worker', pmId: 0, stream: 'out', data: '{"a":1}\n{"b"' });
    logs.push({ name: 'gatehouse-worker', pmId: 1, stream: 'out', data: 'other\n' });
    logs.push({ name: 'gatehouse-worker', pmId: 0, stream: 'err', data: 'oops\n' });
    assert.equal(out.text(), '{"a":1}\nother\n');
    logs.push({ name: 'gatehouse-worker', pmId: 0, stream: 'out', data: ':2}\n' });
    assert.equal(out.text(), '{"a":1}\nother\n{"b":2}\n');
    assert.equal(err.text(), 'oops\n');
    logs.push({ name: 'gatehouse-worker', pmId: 1, stream: 'out', data: 'no newline yet' });
    logs.flush();
    assert.match(out.text(), /no newline yet\n$/);
  });

  test('JSON stays JSON for a pipe or a file; a terminal gets one readable line per request', () => {
    const piped = sink();
    createLogStream({ tty: false, out: piped, err: sink() }).push({
      name: 'w',
      pmId: 0,
      stream: 'out',
      data: `${request}\n`,
    });
    assert.equal(piped.text(), `${request}\n`);
    const terminal = sink();
    createLogStream({ tty: true, out: terminal, err: sink() }).push({
      name: 'w',
      pmId: 0,
      stream: 'out',
      data: `${request}\n`,
    });
    assert.match(
      terminal.text(),
      /^\d\d:\d\d:\d\d GET \/ → 200 in 2\.0 ms by worker 0 \(vm:8001, pid 5\)\n$/,
    );
  });

  test('keeps the last lines of each process, to say why it died', () => {
    const logs = createLogStream({ tty: false, out: sink(), err: sink(), keep: 2 });
    logs.push({ name: 'w', pmId: 3, stream: 'out', data: 'one\ntwo\n' });
    logs.push({ name: 'w', pmId: 3, stream: 'err', data: 'three\n' });
    assert.deepEqual(logs.lastLines(3), ['two', 'three']);
    assert.deepEqual(logs.lastLines(4), []);
  });
});

describe('failureReason', () => {
  test('a fatal or error record names its message and error', () => {
    const fatal = JSON.stringify({
      level: 60,
      msg: 'cannot listen',
      err: { message: 'listen EADDRINUSE: address already in use 127.0.0.1:8080' },
    });
    assert.equal(
      failureReason(['{"level":30,"msg":"starting"}', fatal, 'at Server.listen']),
      'cannot listen: listen EADDRINUSE: address already in use 127.0.0.1:8080',
    );
  });

  test("else a stack trace's Error line, else the last line, else that there was none", () => {
    assert.equal(
      failureReason(['file:///app.js:3', 'TypeError: x is not a function', '    at main (app.js:3:1)']),
      'TypeError: x is not a function',
    );
    assert.equal(failureReason(['killed by the OOM killer?', '']), 'killed by the OOM killer?');
    assert.equal(failureReason([]), 'it wrote nothing');
  });
});
