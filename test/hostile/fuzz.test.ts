import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, proxyQuiet } from '../helpers/proxy.js';
import { desyncs, formatReport, LOOPBACK_SOURCES, runFuzz } from './run.js';
import { startFuzzTarget } from './target.js';

/** A fixed seed by default, so CI is repeatable; GATEHOUSE_FUZZ_SEED explores others. */
const SEED = Number(process.env.GATEHOUSE_FUZZ_SEED ?? 1);
const INPUTS = 20_000;

describe('generated hostile requests against a real proxy process', () => {
  test(`${INPUTS} inputs over 200 connections at once: 4xx, a valid answer or a close; no 5xx, hang, desync or crash`, async (t) => {
    const target = await startFuzzTarget(t);
    const { proxy } = target;
    const baseline = target.fds();
    const report = await runFuzz({
      port: proxy.port,
      seed: SEED,
      count: INPUTS,
      concurrency: 200,
      // The proxy's client timeouts are 1 s: a connection still open after 20 s is a hang.
      wait: 20_000,
      check: target.check,
      checkEvery: 300,
      sources: LOOPBACK_SOURCES,
    });
    await proxyQuiet(proxy.statusPort, 30_000);
    const failures = [...report.failures, ...desyncs(report, target.backends)];
    const summary = formatReport(report, failures);
    for (const line of summary.split('\n')) t.diagnostic(line);
    assert.equal(report.inputs, INPUTS);
    assert.deepEqual(failures, [], summary);
    assert.equal(proxy.child.exitCode, null, `the proxy exited\n${proxy.describe()}`);
    assert.deepEqual(proxy.crashes(), [], 'the proxy logged an uncaught exception');
    // The run reached every kind of outcome it claims to check.
    assert.ok((report.statuses.get(200) ?? 0) > 1000, summary);
    assert.ok((report.statuses.get(400) ?? 0) > 1000, summary);
    assert.ok(report.answeredSmuggled.size > 0, 'some smuggled requests were legitimately pipelined');
    await target.check();
    // Idle upstream connections close after upstream.keepalive_timeout (1 s): back to the start.
    const back = await eventually(() => target.fds() <= baseline, 30_000, 200);
    assert.ok(back, `the proxy holds ${target.fds()} fds, ${baseline} before the run`);
  });
});
