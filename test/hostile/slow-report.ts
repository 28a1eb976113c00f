import { eventually, proxyQuiet, readRss, request, servers, startProxyProcess } from '../helpers/proxy.js';
import { createRecordingBackend } from './recording-backend.js';
import { type Attacker, normalClient, openAttackers, percentile } from './slow-attackers.js';

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;

/**
 * npm run fuzz -- --slow N: a normal client's latency (sequential GETs, a fresh connection each)
 * for `seconds` alone, then for `seconds` with N slow and idle attackers open — the proxy's own
 * client timeouts (60 s and up by default) keep them all open that long — and the proxy's RSS
 * before, during and after.
 */
export async function runSlowReport(attackers: number, seconds: number): Promise<number> {
  const backend = await createRecordingBackend();
  const proxy = await startProxyProcess(null, { config: { upstream: { servers: servers(backend.port) } } });
  let open: Attacker[] = [];
  try {
    const get = async () => (await request(proxy.port, { path: '/normal', timeout: 30_000 })).status;
    await normalClient(get, { count: 50 }); // warm-up: the upstream connection, the JIT
    const alone = await normalClient(get, { until: Date.now() + seconds * 1000 });
    const rssBefore = readRss(proxy.pid);

    open = openAttackers(proxy.port, attackers);
    const armed = await eventually(() => open.every((a) => a.armedAt() !== null), 60_000);
    if (!armed)
      throw new Error(`${open.filter((a) => a.armedAt() === null).length} attackers never got going`);
    let cut = 0;
    for (const attacker of open) void attacker.closed.then(() => cut++);
    const attacked = await normalClient(get, { until: Date.now() + seconds * 1000 });
    const rssDuring = readRss(proxy.pid);
    const stillOpen = attackers - cut;

    for (const attacker of open) attacker.stop();
    await proxyQuiet(proxy.statusPort, 30_000);
    const rssAfter = readRss(proxy.pid);

    const p99Ratio = percentile(attacked, 99) / percentile(alone, 99);
    console.log(`normal client, ${seconds} s each, sequential GETs on fresh connections:`);
    console.log(
      `  alone:                 ${alone.length} requests  p50 ${ms(percentile(alone, 50))}  p99 ${ms(percentile(alone, 99))}`,
    );
    console.log(
      `  with ${attackers} attackers: ${attacked.length} requests  p50 ${ms(percentile(attacked, 50))}  p99 ${ms(percentile(attacked, 99))}  (${stillOpen} attackers still open at the end)`,
    );
    console.log(`  p99 ratio: ${p99Ratio.toFixed(2)}× (aim: within 2×)`);
    console.log(`proxy RSS: before ${mib(rssBefore)}, during ${mib(rssDuring)}, after ${mib(rssAfter)}`);
    return 0;
  } finally {
    for (const attacker of open) attacker.stop();
    await proxy.stop();
    await backend.close();
  }
}
