import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../config/index.js';
import { findPortHolder, listeningInodes } from '../../deploy/pm2/port-holder.js';
import {
  addressProblems,
  clashingAddresses,
  describeTaken,
  stackAddresses,
  takenAddresses,
} from '../../deploy/pm2/preflight.js';

function configWith(document: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'gh-preflight-'));
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, JSON.stringify(document));
  try {
    return loadConfig({ file, env: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function hold(host = '127.0.0.1'): Promise<Server & { port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () =>
      resolve(Object.assign(server, { port: (server.address() as { port: number }).port })),
    );
  });
}

// /proc/net/tcp as Linux writes it: 127.0.0.1:8080 (1F90) listening (0A) with inode 4242, and a
// connection (01) on the same port that is not a listener.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 5151 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 100 0 0 10 0
`;

describe('the addresses gatehouse up checks before it starts anything', () => {
  test('listen, status.listen and one per worker, each with the key that sets it', () => {
    const config = configWith({
      listen: '127.0.0.1:9080',
      status: { listen: '127.0.0.1:9081' },
      workers: { count: 2, port: 9001 },
    });
    assert.deepEqual(
      stackAddresses(config).map((a) => [a.key, `${a.address.host}:${a.address.port}`, a.worker]),
      [
        ['listen', '127.0.0.1:9080', null],
        ['status.listen', '127.0.0.1:9081', null],
        ['workers.port', '127.0.0.1:9001', 0],
        ['workers.port', '127.0.0.1:9002', 1],
      ],
    );
  });

  test('tls.listen and the workers of a route with its own, each with its key', () => {
    const config = configWith({
      listen: '127.0.0.1:9080',
      status: { listen: '127.0.0.1:9081' },
      workers: { count: 1, port: 9001 },
      tls: { listen: '127.0.0.1:9443', certificates: [{ cert: '/srv/a.pem', key: '/srv/a-key.pem' }] },
      routes: [
        { name: 'site' },
        { name: 'hello', host: 'hello.localhost', workers: { count: 2, port: 9101 } },
      ],
    });
    assert.deepEqual(
      stackAddresses(config).map((a) => [a.key, `${a.address.host}:${a.address.port}`, a.worker]),
      [
        ['listen', '127.0.0.1:9080', null],
        ['status.listen', '127.0.0.1:9081', null],
        ['tls.listen', '127.0.0.1:9443', null],
        ['workers.port', '127.0.0.1:9001', 0],
        ['routes.1.workers.port', '127.0.0.1:9101', 0],
        ['routes.1.workers.port', '127.0.0.1:9102', 1],
      ],
    );
  });

  test('a config whose own addresses collide is caught, a wildcard host included', async () => {
    const config = configWith({
      listen: '0.0.0.0:9080',
      status: { listen: '127.0.0.1:9081' },
      workers: { count: 3, port: 9079 },
    });
    assert.deepEqual(
      clashingAddresses(stackAddresses(config)).map(([a, b]) => [a.key, b.key, b.worker]),
      [
        ['listen', 'workers.port', 1],
        ['status.listen', 'workers.port', 2],
      ],
    );
    const [line] = await addressProblems(config);
    assert.match(
      line ?? '',
      /^0\.0\.0\.0:9080 is both listen and workers\.port \(worker 1 listens on workers\.port \+ 1\); change one of them in \/.*gatehouse\.yaml$/,
    );
  });

  test('a port held by another socket is found, with the pid that holds it; free ones are not', async (t) => {
    const held = await hold();
    const free = await hold();
    await new Promise((resolve) => free.close(resolve));
    t.after(() => held.close());
    const taken = await takenAddresses([
      { key: 'listen', address: { host: '127.0.0.1', port: free.port }, worker: null },
      { key: 'status.listen', address: { host: '127.0.0.1', port: held.port }, worker: null },
    ]);
    assert.equal(taken.length, 1);
    assert.equal(taken[0]?.key, 'status.listen');
    assert.equal(taken[0]?.code, 'EADDRINUSE');
    if (process.platform === 'linux') assert.equal(taken[0]?.holder?.pid, process.pid);
  });

  test('one line: the address, who holds it, the key to change and where', () => {
    const entry = { key: 'workers.port' as const, address: { host: '127.0.0.1', port: 8002 }, worker: 1 };
    assert.equal(
      describeTaken(
        { ...entry, code: 'EADDRINUSE', holder: { pid: 4242, command: 'nginx: master process' } },
        'my.yaml',
      ),
      '127.0.0.1:8002 is already in use by pid 4242 (nginx: master process); change workers.port (worker 1 listens on workers.port + 1) in my.yaml, or stop that process',
    );
    assert.equal(
      describeTaken(
        {
          key: 'listen',
          address: { host: '127.0.0.1', port: 8080 },
          worker: null,
          code: 'EADDRINUSE',
          holder: null,
        },
        'my.yaml',
      ),
      '127.0.0.1:8080 is already in use; change listen in my.yaml',
    );
    assert.equal(
      describeTaken(
        { key: 'listen', address: { host: '0.0.0.0', port: 80 }, worker: null, code: 'EACCES', holder: null },
        'my.yaml',
      ),
      '0.0.0.0:80 is not allowed to this user (ports below 1024 need root); change listen in my.yaml',
    );
  });
});

describe('who holds a port (/proc)', () => {
  test('listening sockets on the port, from /proc/net/tcp', () => {
    assert.deepEqual(listeningInodes(TCP, 8080), ['4242']);
    assert.deepEqual(listeningInodes(TCP, 8081), ['4343']);
    assert.deepEqual(listeningInodes(TCP, 9999), []);
    assert.deepEqual(listeningInodes('', 8080), []);
  });

  test('the process whose file descriptors hold that socket, with its command line on one line', async (t) => {
    const proc = mkdtempSync(join(tmpdir(), 'gh-proc-'));
    t.after(() => rmSync(proc, { recursive: true, force: true }));
    mkdirSync(join(proc, 'net'));
    writeFileSync(join(proc, 'net', 'tcp'), TCP);
    for (const [pid, socket, cmdline] of [
      ['77', 'socket:[9999]', 'sshd\0'],
      ['1234', 'socket:[4242]', 'python3\0-c\0import socket\n\ns.listen()\0'],
    ] as const) {
      mkdirSync(join(proc, pid, 'fd'), { recursive: true });
      symlinkSync(socket, join(proc, pid, 'fd', '3'));
      writeFileSync(join(proc, pid, 'cmdline'), cmdline);
    }
    assert.deepEqual(await findPortHolder(8080, proc), {
      pid: 1234,
      command: 'python3 -c import socket s.listen()',
    });
    assert.equal(await findPortHolder(8081, proc), null, 'a socket no process of ours holds');
    assert.equal(await findPortHolder(8080, join(proc, 'missing')), null);
  });
});
