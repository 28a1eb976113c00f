import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { rawExchange, servers, startProxy } from '../helpers/proxy.js';

/** A worker that sends informational answers, then its 200 after `delay` ms. */
async function startHintingWorker(t: { after(fn: () => void): void }, delay = 200) {
  const server = createServer((req, res) => {
    if (req.url === '/hints') {
      res.writeEarlyHints({
        link: ['</style.css>; rel=preload; as=style', '</app.js>; rel=preload; as=script'],
      });
    } else if (req.url === '/processing') {
      res.writeProcessing();
    } else if (req.url === '/hints-without-link') {
      // Node refuses to write a 103 without Link; a raw one is what some servers send.
      res.socket?.write('HTTP/1.1 103 Early Hints\r\nX-Other: 1\r\n\r\n');
    }
    setTimeout(() => res.end('final\n'), delay);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

interface Answer {
  informational: Array<{ status: number; headers: IncomingHttpHeaders }>;
  status: number;
  body: string;
  /** ms from sending to the first 1xx (or -1) and to the final head. */
  firstInformational: number;
  final: number;
}

/** GET through node:http, recording each 1xx ('information') before the final response. */
function get(port: number, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const answer: Answer = { informational: [], status: 0, body: '', firstInformational: -1, final: 0 };
    const req = httpRequest({ port, host: '127.0.0.1', path, agent: false }, (res) => {
      answer.status = res.statusCode ?? 0;
      answer.final = performance.now() - started;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        answer.body += chunk;
      });
      res.on('end', () => resolve(answer));
    });
    req.on('information', (info) => {
      if (answer.firstInformational < 0) answer.firstInformational = performance.now() - started;
      answer.informational.push({ status: info.statusCode, headers: info.headers });
    });
    req.setTimeout(8000, () => req.destroy(new Error('no answer within 8 s')));
    req.on('error', reject);
    req.end();
  });
}

describe('1xx informational responses from the worker', () => {
  test('103 Early Hints reaches the client with its Link fields before the 200, as the worker sent it', async (t) => {
    const worker = await startHintingWorker(t, 300);
    const proxy = await startProxy(t, { upstream: { servers: servers(worker) } });
    const answer = await get(proxy.port, '/hints');
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'final\n');
    assert.equal(answer.informational.length, 1);
    assert.equal(answer.informational[0]!.status, 103);
    assert.match(String(answer.informational[0]!.headers.link), /<\/style\.css>; rel=preload; as=style/);
    assert.match(String(answer.informational[0]!.headers.link), /<\/app\.js>; rel=preload; as=script/);
    // Relayed as it came, not held back with the final answer.
    assert.ok(answer.firstInformational < answer.final, JSON.stringify(answer));
  });

  test('102 Processing is relayed; a 103 without Link is dropped and the 200 still comes', async (t) => {
    const worker = await startHintingWorker(t);
    const proxy = await startProxy(t, { upstream: { servers: servers(worker) } });
    const processing = await get(proxy.port, '/processing');
    assert.deepEqual([processing.informational.map((i) => i.status), processing.status], [[102], 200]);
    const bare = await get(proxy.port, '/hints-without-link');
    assert.deepEqual([bare.informational.length, bare.status, bare.body], [0, 200, 'final\n']);
  });

  test('an HTTP/1.0 client gets no 1xx (RFC 9110), only the final answer', async (t) => {
    const worker = await startHintingWorker(t);
    const proxy = await startProxy(t, { upstream: { servers: servers(worker) } });
    const raw = await rawExchange(proxy.port, 'GET /hints HTTP/1.0\r\nHost: x\r\n\r\n', { wait: 5000 });
    assert.equal(raw.status, 200, raw.text);
    // No 1xx status line (not the digits anywhere: the request id is random hex).
    assert.doesNotMatch(raw.text, /^HTTP\/1\.[01] 1\d\d /m);
    assert.equal(raw.text.match(/^HTTP\/1\.[01] \d{3} /gm)?.length, 1, raw.text);
    assert.match(raw.text, /final/);
  });
});
