import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildPoolSnapshot, classifyContainers } from '../../proxy/sources/docker/snapshot.js';
import { type ContainerSummary, containerHealth } from '../../stack/container.js';
import { fakeContainer } from '../helpers/discovery.js';

const options = { stack: 'shop', port: 3000, maxFails: 2, failTimeout: 7_000 };

describe('buildPoolSnapshot', () => {
  const cases: Array<{ name: string; containers: ContainerSummary[]; addresses: string[] }> = [
    { name: 'no containers give an empty pool', containers: [], addresses: [] },
    {
      name: 'a running healthy worker is a server at its stack-network address and the discovery port',
      containers: [fakeContainer({ id: 'a', ip: '172.20.0.5' })],
      addresses: ['172.20.0.5:3000'],
    },
    {
      name: 'a worker without a healthcheck counts as ready',
      containers: [fakeContainer({ id: 'a', ip: '172.20.0.5', status: 'Up 3 seconds' })],
      addresses: ['172.20.0.5:3000'],
    },
    {
      name: 'workers whose healthcheck is starting or failing are left out',
      containers: [
        fakeContainer({ id: 'a', ip: '172.20.0.5', status: 'Up 1 second (health: starting)' }),
        fakeContainer({ id: 'b', ip: '172.20.0.6', status: 'Up 2 minutes (unhealthy)' }),
        fakeContainer({ id: 'c', ip: '172.20.0.7' }),
      ],
      addresses: ['172.20.0.7:3000'],
    },
    {
      name: 'the Health field of newer engines wins over the Status text',
      containers: [
        fakeContainer({ id: 'a', ip: '172.20.0.5', status: 'Up 1 minute', health: 'unhealthy' }),
        fakeContainer({ id: 'b', ip: '172.20.0.6', status: 'Up 1 minute', health: 'healthy' }),
      ],
      addresses: ['172.20.0.6:3000'],
    },
    {
      name: 'containers that are not running are left out',
      containers: [
        fakeContainer({ id: 'a', ip: '172.20.0.5', state: 'exited', status: 'Exited (0) 1 second ago' }),
        fakeContainer({ id: 'b', ip: '172.20.0.6', state: 'restarting' }),
        fakeContainer({ id: 'c', ip: '172.20.0.7', state: 'paused', status: 'Up 1 minute (Paused)' }),
      ],
      addresses: [],
    },
    {
      name: 'other stacks, the proxy and unlabelled containers are ignored',
      containers: [
        fakeContainer({ id: 'a', ip: '172.20.0.5', stack: 'blog' }),
        fakeContainer({ id: 'b', ip: '172.20.0.6', role: 'proxy' }),
        { ...fakeContainer({ id: 'c', ip: '172.20.0.7' }), Labels: {} },
      ],
      addresses: [],
    },
    {
      name: 'a worker on several networks is reached on the one its gatehouse.network label names',
      containers: [
        fakeContainer({
          id: 'a',
          networks: { 'shop-net': '172.20.0.5', monitoring: '10.9.0.5' },
          labels: { 'gatehouse.network': 'shop-net' },
        }),
      ],
      addresses: ['172.20.0.5:3000'],
    },
    {
      name: 'broken workers are skipped and the others still served',
      containers: [
        fakeContainer({ id: 'a', networks: { one: '172.20.0.5', two: '10.9.0.5' } }),
        fakeContainer({ id: 'b', networks: {} }),
        fakeContainer({ id: 'c', networks: { 'shop-net': '' } }),
        fakeContainer({ id: 'd', ip: '172.20.0.8', labels: { 'gatehouse.network': 'elsewhere' } }),
        fakeContainer({ id: 'e', ip: '172.20.0.9', labels: { 'gatehouse.port': 'http' } }),
        fakeContainer({ id: 'f', ip: '172.20.0.10' }),
      ],
      addresses: ['172.20.0.10:3000'],
    },
    {
      name: 'a gatehouse.port label overrides the discovery port',
      containers: [fakeContainer({ id: 'a', ip: '172.20.0.5', labels: { 'gatehouse.port': '8000' } })],
      addresses: ['172.20.0.5:8000'],
    },
    {
      name: 'servers are sorted by address, numerically',
      containers: [
        fakeContainer({ id: 'a', ip: '172.20.0.10' }),
        fakeContainer({ id: 'b', ip: '172.20.0.9' }),
        fakeContainer({ id: 'c', ip: '172.20.0.100' }),
      ],
      addresses: ['172.20.0.9:3000', '172.20.0.10:3000', '172.20.0.100:3000'],
    },
    {
      name: 'two containers claiming one address give one server',
      containers: [
        fakeContainer({ id: 'a', ip: '172.20.0.5' }),
        fakeContainer({ id: 'b', ip: '172.20.0.5' }),
      ],
      addresses: ['172.20.0.5:3000'],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const servers = buildPoolSnapshot(c.containers, options);
      assert.deepEqual(
        servers.map((s) => s.address),
        c.addresses,
      );
    });
  }

  test("a route's pool takes only the workers labelled with that route; the top-level pool only those without a route", () => {
    const containers = [
      fakeContainer({ id: 'a', ip: '172.20.0.5' }),
      fakeContainer({ id: 'b', ip: '172.20.0.6', labels: { 'gatehouse.route': 'hello' } }),
      fakeContainer({ id: 'c', ip: '172.20.0.7', labels: { 'gatehouse.route': 'api' } }),
    ];
    const addresses = (route?: string) =>
      buildPoolSnapshot(containers, { ...options, ...(route ? { route } : {}) }).map((s) => s.address);
    assert.deepEqual(addresses(), ['172.20.0.5:3000']);
    assert.deepEqual(addresses('hello'), ['172.20.0.6:3000']);
    assert.deepEqual(addresses('api'), ['172.20.0.7:3000']);
    assert.deepEqual(addresses('other'), []);
  });

  test('every server carries the pool defaults, weight 1 and no backup flag', () => {
    const [server] = buildPoolSnapshot([fakeContainer({ id: 'a', ip: '172.20.0.5' })], options);
    assert.deepEqual(server, {
      address: '172.20.0.5:3000',
      host: '172.20.0.5',
      port: 3000,
      weight: 1,
      maxFails: 2,
      failTimeout: 7_000,
      backup: false,
    });
  });

  test('a worker that was sent a stop signal is left out while it still runs', () => {
    const containers = [
      fakeContainer({ id: 'a', ip: '172.20.0.5' }),
      fakeContainer({ id: 'b', ip: '172.20.0.6' }),
    ];
    const servers = buildPoolSnapshot(containers, { ...options, leaving: new Set(['a']) });
    assert.deepEqual(
      servers.map((s) => s.address),
      ['172.20.0.6:3000'],
    );
  });

  test('the same listing in another order gives the same pool', () => {
    const containers = [1, 2, 3, 4].map((n) => fakeContainer({ id: `c${n}`, ip: `172.20.0.${n}` }));
    assert.deepEqual(
      buildPoolSnapshot(containers, options),
      buildPoolSnapshot([...containers].reverse(), options),
    );
  });
});

describe('classifyContainers', () => {
  test('says why each left-out container is out, and marks the misconfigured ones as broken', () => {
    const { skipped } = classifyContainers(
      [
        fakeContainer({ id: 'starting', ip: '172.20.0.5', status: 'Up 1 second (health: starting)' }),
        fakeContainer({ id: 'twonets', networks: { one: '172.20.0.6', two: '10.9.0.6' } }),
        fakeContainer({ id: 'noip', networks: { 'shop-net': '' } }),
        fakeContainer({ id: 'badport', ip: '172.20.0.8', labels: { 'gatehouse.port': '70000' } }),
      ],
      options,
    );
    const byId = Object.fromEntries(skipped.map((s) => [s.id, s]));
    assert.equal(byId.starting?.broken, false);
    assert.match(byId.starting!.reason, /starting/);
    assert.equal(byId.twonets?.broken, true);
    assert.match(byId.twonets!.reason, /gatehouse\.network/);
    assert.equal(byId.noip?.broken, true);
    assert.match(byId.noip!.reason, /no IP address on network shop-net/);
    assert.equal(byId.badport?.broken, true);
    assert.match(byId.badport!.reason, /"70000" is not a port number/);
  });
});

describe('containerHealth', () => {
  const cases: Array<[string, string]> = [
    ['Up 5 seconds (healthy)', 'healthy'],
    ['Up 5 seconds (unhealthy)', 'unhealthy'],
    ['Up 1 second (health: starting)', 'starting'],
    ['Up 2 hours', 'none'],
  ];
  for (const [status, health] of cases) {
    test(`reads "${status}" as ${health}`, () => {
      assert.equal(containerHealth({ Id: 'x', Status: status }), health);
    });
  }
});
