import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { createActiveHealthCheck } from '../../proxy/pool/active-health.js';
import { Pool } from '../../proxy/pool/pool.js';
import { Upstream } from '../../proxy/pool/upstream.js';
import { createStatusListener } from '../../proxy/status/listener.js';
import { requires, which } from '../helpers/system-deps.js';
import { startWorker, type WorkerProcess } from '../helpers/worker-process.js';

const screenshotPath = '/tmp/gatehouse-status.png';
const refreshSeconds = 2;
const healthInterval = 500;
const requestsPerWorker = 20;

/** One GET straight to a worker, timed, so the page has real counters and latency to show. */
function timedGet(upstream: Upstream, path: string): Promise<{ status: number; seconds: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request({ host: upstream.host, port: upstream.port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, seconds: Number(process.hrtime.bigint() - started) / 1e9 }),
      );
    });
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

interface RowView {
  state: string | null;
  word: string;
  rgb: [number, number, number];
  text: string;
  requests: string;
}

/**
 * What a person sees in one upstream's row: the state word, its colour and the row's text. Read in
 * one evaluation; if the page's own refresh replaced the document meanwhile, read the new one.
 */
async function readRow(page: Page, address: string): Promise<RowView> {
  for (let attempt = 1; ; attempt++) {
    try {
      const row = await page.evaluate((wanted) => {
        const tr = [...document.querySelectorAll('tr[data-upstream]')].find(
          (el) => el.getAttribute('data-upstream') === wanted,
        );
        const state = tr?.querySelector('.state');
        if (!tr || !state) return null;
        return {
          state: tr.getAttribute('data-state'),
          word: state.textContent?.trim() ?? '',
          colour: getComputedStyle(state).color,
          text: tr.textContent ?? '',
          requests: tr.querySelectorAll('td.num')[2]?.textContent?.trim() ?? '',
        };
      }, address);
      if (row) {
        const [r = 0, g = 0, b = 0] = (row.colour.match(/\d+(\.\d+)?/g) ?? []).map(Number);
        return { ...row, rgb: [r, g, b] };
      }
      if (attempt >= 3) throw new Error(`no row for ${address} on the page`);
    } catch (err) {
      if (attempt >= 3 || !/context was destroyed|navigat/i.test(String(err))) throw err;
    }
    await page.waitForLoadState('load');
  }
}

const isGreen = ([r, g, b]: [number, number, number]) => g > r + 40 && g > b + 40;
const isRed = ([r, g, b]: [number, number, number]) => r > g + 80 && r > b + 80;

const pageTest =
  'status page in Chromium shows every upstream up in green, and a killed worker turns red "down" as the page refreshes itself';

test(pageTest, requires('chromium'), async (t) => {
  const workers: WorkerProcess[] = [];
  t.after(() => Promise.all(workers.map((worker) => worker.stop({ signal: 'SIGKILL' }))));
  // Pushed one by one: if the second fails to start, the first is still stopped by the hook above.
  for (let i = 0; i < 2; i++) workers.push(await startWorker());

  const upstreams = workers.map(
    ({ port }) => new Upstream({ address: `127.0.0.1:${port}`, host: '127.0.0.1', port }),
  );
  const pool = new Pool(upstreams);
  const health = createActiveHealthCheck({
    getPool: () => pool,
    path: '/healthz',
    interval: healthInterval,
    // fall 1: one failed probe marks a worker down, so a live worker's probe gets long enough to pass
    // on a loaded machine; the killed one is refused at once.
    timeout: 10_000,
    rise: 1,
    fall: 1,
  });
  t.after(() => health.stop());

  const status = createStatusListener({
    getPools: () => [{ route: 'default', upstreams: pool.upstreams }],
    getClientConnections: () => 0,
    getUpstreamConnections: () => ({ active: 0, idle: 0 }),
    refreshSeconds,
  });
  t.after(() => {
    status.server.closeAllConnections();
    return new Promise<void>((resolve) => status.server.close(() => resolve()));
  });
  await new Promise<void>((resolve) => status.server.listen(0, '127.0.0.1', resolve));
  const statusUrl = `http://127.0.0.1:${(status.server.address() as AddressInfo).port}/status`;

  // Stand in for the proxy: real requests to each worker, counted and observed as the proxy would.
  for (const upstream of upstreams) {
    for (let i = 0; i < requestsPerWorker; i++) {
      const { status: code, seconds } = await timedGet(upstream, '/');
      upstream.requests++;
      status.observe('default', upstream.address, code, seconds);
    }
  }

  await health.probeNow();
  health.start();
  assert.deepEqual(
    upstreams.map((upstream) => upstream.healthy),
    [true, true],
    'both workers pass the health check before the page is loaded',
  );

  let browser: Browser | undefined;
  t.after(() => browser?.close());
  browser = await chromium.launch({
    executablePath: which('chromium')!,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1100, height: 420 } });
  const response = await page.goto(statusUrl);
  assert.equal(response?.status(), 200);
  assert.equal(await page.title(), 'gatehouse status');

  const [alive, doomed] = upstreams as [Upstream, Upstream];
  for (const upstream of upstreams) {
    const row = await readRow(page, upstream.address);
    assert.equal(row.word, 'up', `${upstream.address} shows the word "up"`);
    assert.ok(isGreen(row.rgb), `${upstream.address} "up" is green, got rgb ${row.rgb}`);
    assert.equal(row.requests, String(requestsPerWorker), `${upstream.address} shows its request count`);
  }

  // The page refreshes itself (nothing here reloads it), every refreshSeconds.
  assert.equal(
    await page.locator('meta[http-equiv="refresh"]').getAttribute('content'),
    String(refreshSeconds),
  );
  await workers[1]!.stop({ signal: 'SIGKILL' });
  const killedAt = Date.now();
  // On an idle machine one health interval plus one refresh (about 2.5 s); the bound only ends a
  // failure, so a loaded machine that renders late does not fail the test.
  await page
    .locator(`tr[data-upstream="${doomed.address}"][data-state="down"]`)
    .waitFor({ state: 'visible', timeout: 30_000 });

  t.diagnostic(`the page showed the stopped worker down ${Date.now() - killedAt} ms after it was killed`);

  const down = await readRow(page, doomed.address);
  assert.equal(down.state, 'down');
  assert.equal(down.word, 'down', 'the stopped worker shows the word "down"');
  assert.ok(isRed(down.rgb), `"down" is red, got rgb ${down.rgb}`);
  assert.match(down.text, /health check failing/);
  const up = await readRow(page, alive.address);
  assert.equal(up.word, 'up', 'the other worker is still up');
  assert.ok(isGreen(up.rgb), `the other worker is still green, got rgb ${up.rgb}`);
  assert.match((await page.locator('.summary').textContent()) ?? '', /1 of 2 upstreams down/);

  await page.screenshot({ path: screenshotPath, fullPage: true });
});
