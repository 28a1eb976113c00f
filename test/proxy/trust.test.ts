import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createTrust } from '../../proxy/trust.js';

describe('isTrusted', () => {
  test('trusts nobody when no trusted proxies are configured', () => {
    const trust = createTrust([]);
    for (const address of ['127.0.0.1', '10.0.0.1', '::1', '']) assert.equal(trust.isTrusted(address), false);
  });

  test('trusts exactly the addresses inside the configured IPv4 CIDRs', () => {
    const trust = createTrust(['10.0.0.0/8', '192.168.1.0/24']);
    assert.equal(trust.isTrusted('10.255.255.255'), true);
    assert.equal(trust.isTrusted('10.0.0.0'), true);
    assert.equal(trust.isTrusted('11.0.0.0'), false);
    assert.equal(trust.isTrusted('192.168.1.77'), true);
    assert.equal(trust.isTrusted('192.168.2.1'), false);
  });

  test('treats a bare address as a /32 (or /128)', () => {
    const trust = createTrust(['127.0.0.1', '2001:db8::1']);
    assert.equal(trust.isTrusted('127.0.0.1'), true);
    assert.equal(trust.isTrusted('127.0.0.2'), false);
    assert.equal(trust.isTrusted('2001:db8::1'), true);
    assert.equal(trust.isTrusted('2001:db8::2'), false);
  });

  test('matches IPv6 CIDRs', () => {
    const trust = createTrust(['fd00::/8']);
    assert.equal(trust.isTrusted('fd12:3456::1'), true);
    assert.equal(trust.isTrusted('fe80::1'), false);
  });

  test('matches an IPv4-mapped IPv6 peer against IPv4 CIDRs (dual-stack sockets)', () => {
    const trust = createTrust(['10.0.0.0/8']);
    assert.equal(trust.isTrusted('::ffff:10.1.2.3'), true);
    assert.equal(trust.isTrusted('::ffff:11.1.2.3'), false);
  });

  test('never trusts something that is not an address', () => {
    const trust = createTrust(['0.0.0.0/0']);
    assert.equal(trust.isTrusted('1.2.3.4'), true);
    for (const junk of ['unknown', 'evil.example', '1.2.3.4:80', ''])
      assert.equal(trust.isTrusted(junk), false);
  });
});

describe('clientAddress (realip, recursive)', () => {
  const trust = createTrust(['10.0.0.0/8']);

  test('is the peer when the peer is not trusted, whatever the header says', () => {
    assert.equal(createTrust(['10.0.0.0/8']).clientAddress('192.0.2.1', '203.0.113.7'), '192.0.2.1');
  });

  test('is the peer when a trusted peer sent no X-Forwarded-For', () => {
    assert.equal(trust.clientAddress('10.0.0.5', undefined), '10.0.0.5');
    assert.equal(trust.clientAddress('10.0.0.5', ''), '10.0.0.5');
  });

  test('is the right-most untrusted address, skipping trusted hops', () => {
    assert.equal(trust.clientAddress('10.0.0.5', '203.0.113.7'), '203.0.113.7');
    assert.equal(trust.clientAddress('10.0.0.5', '1.1.1.1, 203.0.113.7, 10.9.9.9,10.8.8.8'), '203.0.113.7');
  });

  test('does not let a client skip past its own address by prepending spoofed entries', () => {
    // The client sent "10.0.0.99" itself; the trusted proxy appended the client's real address.
    assert.equal(trust.clientAddress('10.0.0.5', '10.0.0.99, 198.51.100.20'), '198.51.100.20');
  });

  test('is the left-most address when every hop is trusted (as nginx)', () => {
    assert.equal(trust.clientAddress('10.0.0.5', '10.1.1.1, 10.2.2.2'), '10.1.1.1');
  });

  test('never takes an entry that is not an IP address as the client address (nginx keeps the peer)', () => {
    // nginx's realip declines when the right-most entry does not parse: $remote_addr stays the peer.
    for (const junk of ['unknown', '<script>', '203.0.113.7:443x', 'evil.example']) {
      const client = trust.clientAddress('10.0.0.5', `198.51.100.1, ${junk}`);
      assert.equal(client, '10.0.0.5', `X-Forwarded-For ending in ${JSON.stringify(junk)}`);
    }
    // Left of a trusted hop, nginx stops at the last address that parsed (checked with nginx 1.22).
    assert.equal(trust.clientAddress('10.0.0.5', 'unknown, 10.1.1.1'), '10.1.1.1');
  });

  test('trims spaces around entries and ignores empty ones', () => {
    assert.equal(trust.clientAddress('10.0.0.5', ' 203.0.113.7 ,, 10.2.2.2 '), '203.0.113.7');
  });
});
