import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { describe, test } from 'node:test';
import { readRss, servers, startProxyProcess } from '../helpers/proxy.js';
import { startWorker } from '../helpers/worker-process.js';

const MB = 1024 * 1024;
const TOTAL = 50 * MB;
const CHUNK = 64 * 1024;

describe('streaming bodies (no full buffering, with backpressure)', () => {
  // Streaming holds a few chunks at a time; what it costs beyond that is chunks waiting for the
  // collector and one-time compilation (proxy/body-memory.ts). Measured peak growth: +12–20 MB on
  // Node 20 and 24; before body-memory.ts +42–73 MB. Holding the body would cost 100 MB. The bound
  // is 40 MB: with three test files at a time beside the Docker builds (CI's first pass) one run
  // peaked at +31.9 MB, all of it kept afterwards (heap growth, not the body).
  test("a 50 MB upload through POST /echo comes back whole, the proxy's RSS growing less than 40 MB", async (t) => {
    const worker = await startWorker({ config: { workers: { body_limit: '100m' } } });
    t.after(() => worker.stop());
    const proxy = await startProxyProcess(t, {
      config: { upstream: { servers: servers(worker.port) }, client_max_body_size: '100m' },
    });

    // Warm the request path once so lazily loaded code is not counted as body memory.
    await roundTrip(proxy.port, 1 * MB);
    const baseline = readRss(proxy.pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, readRss(proxy.pid));
      } catch {}
    }, 25);
    t.after(() => clearInterval(sampler));

    const result = await roundTrip(proxy.port, TOTAL);
    clearInterval(sampler);
    const afterwards = readRss(proxy.pid);
    peak = Math.max(peak, afterwards);

    assert.equal(result.status, 200);
    assert.equal(result.received, TOTAL, 'the echo came back short');
    assert.equal(result.receivedHash, result.sentHash, 'the echo came back different');
    const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
    t.diagnostic(
      `proxy RSS ${mb(baseline)} → peak +${mb(peak - baseline)}, after +${mb(afterwards - baseline)}`,
    );
    assert.ok(
      peak - baseline < 40 * MB,
      `proxy RSS grew by ${mb(peak - baseline)} at peak, ${mb(afterwards - baseline)} after (from ${mb(baseline)})`,
    );
  });

  test('proxy memory does not grow with the body size (150 MB costs about what 30 MB costs)', async (t) => {
    const worker = await startWorker({ config: { workers: { body_limit: '200m' } } });
    t.after(() => worker.stop());
    const proxy = await startProxyProcess(t, {
      config: { upstream: { servers: servers(worker.port) }, client_max_body_size: '200m' },
    });
    await roundTrip(proxy.port, 1 * MB);
    const measure = async (bytes: number) => {
      let peak = readRss(proxy.pid);
      const sampler = setInterval(() => {
        try {
          peak = Math.max(peak, readRss(proxy.pid));
        } catch {}
      }, 25);
      try {
        const result = await roundTrip(proxy.port, bytes);
        assert.equal(result.received, bytes);
        assert.equal(result.receivedHash, result.sentHash);
      } finally {
        clearInterval(sampler);
      }
      return Math.max(peak, readRss(proxy.pid));
    };
    const baseline = readRss(proxy.pid);
    const small = await measure(30 * MB);
    const large = await measure(150 * MB);
    t.diagnostic(
      `proxy RSS ${(baseline / MB).toFixed(1)} MB; peak +${((small - baseline) / MB).toFixed(1)} MB for 30 MB, +${((large - baseline) / MB).toFixed(1)} MB for 150 MB`,
    );
    // Buffering the body would cost at least the 120 MB difference; streaming costs nothing more.
    assert.ok(
      large - small < 30 * MB,
      `peak RSS ${((small - baseline) / MB).toFixed(1)} MB over baseline after 30 MB, ${((large - baseline) / MB).toFixed(1)} MB after 150 MB`,
    );
  });
});

/**
 * Streams `total` bytes of varied content to POST /echo (honouring backpressure) while reading
 * the echo as it comes; hashes both sides.
 */
function roundTrip(
  port: number,
  total: number,
): Promise<{ status: number; received: number; sentHash: string; receivedHash: string }> {
  const sent = createHash('sha256');
  const got = createHash('sha256');
  let received = 0;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/echo',
        agent: false,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(total) },
      },
      (res) => {
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          got.update(chunk);
        });
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            received,
            sentHash: sent.digest('hex'),
            receivedHash: got.digest('hex'),
          }),
        );
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error('no progress for 60 s')));
    req.on('error', reject);
    let offset = 0;
    const write = () => {
      while (offset < total) {
        const size = Math.min(CHUNK, total - offset);
        const chunk = Buffer.alloc(size, (offset / CHUNK) % 251);
        chunk.writeUInt32BE(offset >>> 0, 0);
        sent.update(chunk);
        offset += size;
        if (!req.write(chunk)) {
          req.once('drain', write);
          return;
        }
      }
      req.end();
    };
    write();
  });
}
