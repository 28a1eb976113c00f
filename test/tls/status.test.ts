import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StatusSnapshot } from '../../stack/status.js';
import { closedPort, request, servers, startProxy } from '../helpers/proxy.js';
import { type TestCertificates, testCertificates } from './certs.js';

const DAY = 86_400_000;
let certs: TestCertificates;
before(async () => {
  certs = await testCertificates();
});
after(() => certs?.remove());

describe('status and metrics of the TLS listener', () => {
  test("the status JSON and page show each certificate's names and days left; /metrics the seconds left", async (t) => {
    const long = await certs.issue('long', ['localhost', '127.0.0.1'], {
      notAfter: new Date(Date.now() + 30 * DAY + 3600_000),
    });
    const short = await certs.issue('short', ['*.soon.test'], {
      notAfter: new Date(Date.now() + 5 * DAY + 3600_000),
    });
    const proxy = await startProxy(t, {
      upstream: { servers: servers(await closedPort()) },
      tls: { listen: '127.0.0.1:0', certificates: [long, short].map(({ cert, key }) => ({ cert, key })) },
    });
    const json = await request(proxy.statusPort, { path: '/status?format=json' });
    const snapshot = JSON.parse(json.text) as StatusSnapshot;
    assert.deepEqual(
      snapshot.certificates?.map((c) => [c.file, c.names, c.daysLeft]),
      [
        [long.cert, ['localhost', '127.0.0.1'], 30],
        [short.cert, ['*.soon.test'], 5],
      ],
    );
    const page = await request(proxy.statusPort, { path: '/status' });
    assert.match(page.text, /<tr data-names="localhost, 127.0.0.1">[\s\S]*?30 days/);
    assert.match(page.text, /<tr data-names="\*.soon.test">[\s\S]*?class="state backup">5 days/);

    const seconds = async (names: string) => {
      const metrics = (await request(proxy.statusPort, { path: '/metrics' })).text;
      const escaped = names.replaceAll('.', '\\.').replaceAll('*', '\\*');
      const m = new RegExp(
        `^gatehouse_tls_certificate_expiry_seconds\\{names="${escaped}"\\} (-?\\d+)$`,
        'm',
      ).exec(metrics);
      return m ? Number(m[1]) : null;
    };
    const left = await seconds('localhost,127.0.0.1');
    assert.ok(left !== null && Math.abs(left - (30 * DAY + 3600_000) / 1000) < 600, String(left));
    assert.ok((await seconds('*.soon.test'))! > 5 * 86400);

    // A swap shows at once: the renewed pair's end, no series left of the old one.
    const renewed = await certs.issue('short', ['*.soon.test', 'soon.test'], { days: 90 });
    proxy.server.tls!.putCertificate({ cert: renewed.cert, key: renewed.key });
    assert.equal(await seconds('*.soon.test'), null);
    assert.ok((await seconds('*.soon.test,soon.test'))! > 89 * 86400);
  });

  test('without tls: no certificates in the JSON, no expiry gauge', async (t) => {
    const proxy = await startProxy(t, { upstream: { servers: servers(await closedPort()) } });
    const snapshot = JSON.parse(
      (await request(proxy.statusPort, { path: '/status?format=json' })).text,
    ) as StatusSnapshot;
    assert.equal(snapshot.certificates, undefined);
    const metrics = (await request(proxy.statusPort, { path: '/metrics' })).text;
    assert.doesNotMatch(metrics, /gatehouse_tls_certificate_expiry_seconds/);
  });
});
