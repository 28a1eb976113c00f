import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createBalancer } from '../../proxy/pool/balancer.js';
import { ipHashBytes } from '../../proxy/pool/balancers/ip-bytes.js';
import type { Upstream } from '../../proxy/pool/upstream.js';
import { countPicks, makePool, seededRandom, spreadClientIp, upstreamAt } from '../helpers/pool.js';

const none: ReadonlySet<Upstream> = new Set();

function sequence(
  name: 'round_robin' | 'least_conn',
  weights: Record<string, number>,
  count: number,
): string {
  const pool = makePool(Object.entries(weights).map(([host, weight]) => ({ address: `${host}:80`, weight })));
  const balancer = createBalancer(name);
  return Array.from({ length: count }, () => balancer.pick(pool, '10.0.0.1', none)?.host ?? '-').join(' ');
}

describe('round_robin', () => {
  test('is nginx smooth weighted round robin: weights 5,1,1 give a a b a c a a, repeating', () => {
    assert.equal(sequence('round_robin', { a: 5, b: 1, c: 1 }, 14), 'a a b a c a a a a b a c a a');
  });

  test('equal weights take turns in pool order', () => {
    assert.equal(sequence('round_robin', { a: 1, b: 1, c: 1 }, 6), 'a b c a b c');
  });

  test('a retry skips the tried server without disturbing the others’ turns', () => {
    const pool = makePool(['a:80', 'b:80', 'c:80']);
    const balancer = createBalancer('round_robin');
    assert.equal(balancer.pick(pool, '10.0.0.1', none)?.host, 'a');
    assert.equal(balancer.pick(pool, '10.0.0.1', new Set([upstreamAt(pool, 'b:80')]))?.host, 'c');
  });
});

describe('least_conn', () => {
  test('picks the server with the fewest requests in flight', () => {
    const pool = makePool(['a:80', 'b:80', 'c:80']);
    upstreamAt(pool, 'a:80').inFlight = 3;
    upstreamAt(pool, 'b:80').inFlight = 1;
    upstreamAt(pool, 'c:80').inFlight = 2;
    assert.equal(createBalancer('least_conn').pick(pool, '10.0.0.1', none)?.host, 'b');
  });

  test('compares in-flight requests relative to weight', () => {
    const pool = makePool([{ address: 'a:80', weight: 4 }, 'b:80']);
    upstreamAt(pool, 'a:80').inFlight = 3; // 3/4 per weight
    upstreamAt(pool, 'b:80').inFlight = 1; // 1/1
    assert.equal(createBalancer('least_conn').pick(pool, '10.0.0.1', none)?.host, 'a');
  });

  test('skips the least loaded server when it is unavailable', () => {
    const pool = makePool(['a:80', 'b:80', 'c:80']);
    upstreamAt(pool, 'a:80').inFlight = 3;
    upstreamAt(pool, 'c:80').inFlight = 2;
    upstreamAt(pool, 'b:80').healthy = false;
    assert.equal(createBalancer('least_conn').pick(pool, '10.0.0.1', none)?.host, 'c');
  });

  test('breaks ties by smooth weighted round robin among the tied only', () => {
    const pool = makePool([{ address: 'a:80', weight: 5 }, 'b:80', 'c:80', 'd:80']);
    upstreamAt(pool, 'd:80').inFlight = 1;
    const balancer = createBalancer('least_conn');
    const picked = Array.from({ length: 7 }, () => balancer.pick(pool, '10.0.0.1', none)?.host).join(' ');
    assert.equal(picked, 'a a b a c a a');
  });
});

describe('ip_hash', () => {
  const servers = ['a:80', 'b:80', 'c:80', 'd:80'];

  test('clients of the same /24 stick to one server', () => {
    const pool = makePool(servers);
    const balancer = createBalancer('ip_hash');
    const first = balancer.pick(pool, '192.168.5.10', none);
    for (const ip of ['192.168.5.10', '192.168.5.99', '192.168.5.250', '192.168.5.10']) {
      assert.equal(balancer.pick(pool, ip, none), first, ip);
    }
  });

  test('different /24s spread over every server', () => {
    const counts = countPicks(createBalancer('ip_hash'), makePool(servers), 400, {
      clientIp: spreadClientIp,
    });
    assert.equal(counts.size, 4, JSON.stringify([...counts]));
  });

  test('uses nginx hash: 127.0.0.1 over three equal servers goes to the third', () => {
    // nginx: hash = 89, then hash = (hash * 113 + octet) % 6271 for 127, 0, 0 → 3913, 3199, 4040;
    // 4040 % total weight 3 = 2.
    const pool = makePool(['a:80', 'b:80', 'c:80']);
    assert.equal(createBalancer('ip_hash').pick(pool, '127.0.0.1', none)?.host, 'c');
  });

  test('re-hashes to a stand-in while the server is down, consistently, and returns afterwards', () => {
    const pool = makePool(servers);
    const balancer = createBalancer('ip_hash');
    const home = balancer.pick(pool, '172.16.9.1', none)!;
    home.healthy = false;
    const standIn = balancer.pick(pool, '172.16.9.1', none);
    assert.ok(standIn && standIn !== home);
    assert.equal(balancer.pick(pool, '172.16.9.77', none), standIn);
    home.healthy = true;
    assert.equal(balancer.pick(pool, '172.16.9.1', none), home);
  });

  test('a retry from the same client goes to another server', () => {
    const pool = makePool(servers);
    const balancer = createBalancer('ip_hash');
    const home = balancer.pick(pool, '172.16.9.1', none)!;
    const retry = balancer.pick(pool, '172.16.9.1', new Set([home]));
    assert.ok(retry && retry !== home);
  });

  test('an IPv4-mapped IPv6 client hashes as its IPv4 address', () => {
    const pool = makePool(servers);
    const balancer = createBalancer('ip_hash');
    for (let i = 0; i < 50; i++) {
      const ip = spreadClientIp(i);
      assert.equal(balancer.pick(pool, `::ffff:${ip}`, none), balancer.pick(pool, ip, none), ip);
    }
  });

  test('hashes the whole IPv6 address, not a prefix', () => {
    const pool = makePool(servers);
    const balancer = createBalancer('ip_hash');
    const picked = new Set(
      Array.from({ length: 64 }, (_, i) => balancer.pick(pool, `2001:db8::${i.toString(16)}`, none)),
    );
    assert.ok(picked.size > 1);
    assert.equal(
      balancer.pick(pool, '2001:db8::7', none),
      balancer.pick(pool, '2001:0db8:0:0:0:0:0:7', none),
    );
  });
});

describe('ipHashBytes', () => {
  const bytes = (ip: string): number[] => {
    const out = new Uint8Array(16);
    return [...out.subarray(0, ipHashBytes(ip, out))];
  };

  test('IPv4: the first three octets', () => {
    assert.deepEqual(bytes('10.20.30.40'), [10, 20, 30]);
  });

  test('IPv6: all sixteen bytes, with :: expanded and a zone id ignored', () => {
    assert.deepEqual(bytes('2001:db8::1'), [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(bytes('::1'), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(bytes('fe80::1:2%eth0'), [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
    assert.deepEqual(bytes('1:2:3:4:5:6:7:8'), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
  });

  test('IPv4-mapped IPv6: the IPv4 octets', () => {
    assert.deepEqual(bytes('::ffff:192.168.1.9'), [192, 168, 1]);
  });

  test('anything unparsable hashes as 0.0.0, as nginx does for non-IP peers', () => {
    for (const junk of ['', 'unix:', '1.2.3', '1.2.3.256', '1::2::3', ':1', '1:2:3', '12345::1', 'g::1']) {
      assert.deepEqual(bytes(junk), [0, 0, 0], junk);
    }
  });
});

describe('random (two, least_conn)', () => {
  function scripted(...values: number[]): () => number {
    let i = 0;
    return () => values[i++ % values.length]!;
  }

  test('of its two draws, picks the one with fewer requests in flight', () => {
    const pool = makePool(['a:80', 'b:80', 'c:80', 'd:80']);
    // 0.1 draws a, 0.6 draws c (four equal slices).
    upstreamAt(pool, 'a:80').inFlight = 2;
    upstreamAt(pool, 'c:80').inFlight = 1;
    assert.equal(createBalancer('random', { random: scripted(0.1, 0.6) }).pick(pool, '', none)?.host, 'c');
    upstreamAt(pool, 'a:80').inFlight = 0;
    assert.equal(createBalancer('random', { random: scripted(0.1, 0.6) }).pick(pool, '', none)?.host, 'a');
  });

  test('never picks the most loaded of three servers (it always loses its pair)', () => {
    const pool = makePool(['a:80', 'b:80', 'c:80']);
    upstreamAt(pool, 'c:80').inFlight = 10;
    const counts = countPicks(createBalancer('random', { random: seededRandom(7) }), pool, 300);
    assert.equal(counts.get('c:80'), undefined);
    assert.ok((counts.get('a:80') ?? 0) > 0 && (counts.get('b:80') ?? 0) > 0);
  });

  test('draws again when it draws the same server twice', () => {
    const pool = makePool(['a:80', 'b:80', 'c:80', 'd:80']);
    upstreamAt(pool, 'a:80').inFlight = 5;
    upstreamAt(pool, 'd:80').inFlight = 1;
    // a, a again (ignored), then d.
    assert.equal(
      createBalancer('random', { random: scripted(0.1, 0.2, 0.9) }).pick(pool, '', none)?.host,
      'd',
    );
  });
});
