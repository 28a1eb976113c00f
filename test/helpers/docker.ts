import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import {
  buildFromContext,
  buildImage,
  createEngine,
  listContextFiles,
  tarFile,
} from '../../deploy/docker/index.js';
import { holdForThisFile } from './exclusive.js';
import { waitFor as waitUntil } from './wait.js';

/** The repository root (dist/test/helpers → ../../..). */
export const repoRoot = join(import.meta.dirname, '..', '..', '..');
/** What test images are built from: the working tree. */
export const buildContext = repoRoot;

/** Runs a command, returns stdout; throws with stderr when it fails. */
export function run(
  command: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {},
): string {
  const [file, ...args] = command;
  const result = spawnSync(file!, args, {
    encoding: 'utf8',
    cwd: options.cwd ?? repoRoot,
    env: options.env ?? process.env,
    timeout: options.timeout ?? 180_000,
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(
      `${command.join(' ')} exited with ${result.status}:\n${result.stderr}${result.stdout}`.slice(0, 4000),
    );
  }
  return result.stdout;
}

const TEST_REPOSITORY = 'gatehouse-test';

/**
 * The image built from the working tree, once: tagged with a hash of the build context, so every
 * test file of a run (each its own process) reuses it and a changed tree builds a new one. Older
 * gatehouse-test tags are removed when a new one is built; the current one stays as the cache.
 */
export async function ensureTestImage(): Promise<string> {
  // One test file at a time uses the engine: builds, tags, swarm mode (helpers/exclusive.ts).
  await holdForThisFile('docker-engine');
  const engine = createEngine();
  const files = await listContextFiles(buildContext);
  const hash = createHash('sha256');
  for (const file of files) {
    hash
      .update(file)
      .update('\0')
      .update(readFileSync(join(buildContext, file)))
      .update('\0');
  }
  const tag = `${TEST_REPOSITORY}:${hash.digest('hex').slice(0, 12)}`;
  if ((await engine.imageId(tag)) !== null) return tag;
  const output: string[] = [];
  try {
    await buildImage(engine, { context: buildContext, tag, onProgress: (line) => output.push(line) });
  } catch (error) {
    // The failing step's own output says why (npm's error, tsc's): its first lines carry the cause.
    const step = output.findLastIndex((line) => /^Step \d+\/\d+ : /.test(line));
    const excerpt = output.slice(Math.max(step, 0), Math.max(step, 0) + 15).join('\n');
    throw new Error(`${(error as Error).message}\n--- the failing step ---\n${excerpt}`, { cause: error });
  }
  const stale = run(['docker', 'image', 'ls', TEST_REPOSITORY, '--format', '{{.Repository}}:{{.Tag}}'])
    .split('\n')
    .filter((t) => t !== '' && t !== tag && /^gatehouse-test:[0-9a-f]{12}$/.test(t));
  for (const old of stale) await engine.removeImage(old).catch(() => {});
  return tag;
}

/** A second image, different from `base` by one label: what a rollout switches to. Seconds to build. */
export async function derivedImage(base: string, tag: string): Promise<string> {
  const dockerfile = `FROM ${base}\nLABEL gatehouse.test.revision="${tag}"\n`;
  await buildFromContext(createEngine(), Readable.from([tarFile('Dockerfile', dockerfile)]), { tag });
  return tag;
}

/** A port free on 127.0.0.1 right now. */
export { freePort } from './net.js';

export interface HttpResult {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export function get(url: string, headers: Record<string, string> = {}, agent?: Agent): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: agent ?? false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Polls until `check` returns a value other than undefined, or fails after `timeout` ms. */
/** Polls until `check` returns a value (containers take a while: 60 s unless told). */
export function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeout = 60_000,
  interval = 200,
): Promise<T> {
  return waitUntil(what, check, timeout, interval);
}

/**
 * Which containers served requests: sends `count` GETs to `url`, notes the X-Request-Id of each
 * response (the front makes one; a client's is not believed), then reads every candidate
 * container's log, where the worker logs each request's id. Returns the containers that answered
 * at least one of them with 200.
 */
export async function containersServing(
  url: string,
  containerIds: readonly string[],
  count = 24,
): Promise<Set<string>> {
  const requestIds = new Set<string>();
  for (let i = 0; i < count; i++) {
    const res = await get(url);
    if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${res.body.slice(0, 200)}`);
    // Node joins a repeated header with ", "; every copy carries the same id.
    const id = String(res.headers['x-request-id'] ?? '')
      .split(',')[0]!
      .trim();
    if (id === '') throw new Error(`GET ${url} answered without X-Request-Id`);
    requestIds.add(id);
  }
  const serving = new Set<string>();
  for (const container of containerIds) {
    const logs = spawnSync('docker', ['logs', container], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    for (const line of logs.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { msg?: string; status?: number; requestId?: string };
      if (entry.msg === 'request' && entry.status === 200 && requestIds.has(entry.requestId ?? '')) {
        serving.add(container);
        break;
      }
    }
  }
  return serving;
}

export interface LoadResult {
  ok: number;
  failed: number;
  /** Failure kinds and how often: "502", "ECONNRESET", ... */
  failures: Record<string, number>;
}

/**
 * Closed-loop load: `connections` keep-alive connections each sending GET `url` one after another
 * (`pause` ms apart, default none) until `stop()` — bounded by `maxRequests` and `maxDuration`
 * whatever happens.
 */
export function startLoad(
  url: string,
  options: { connections: number; maxRequests: number; maxDuration: number; pause?: number },
) {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const result: LoadResult = { ok: 0, failed: 0, failures: {} };
  const deadline = Date.now() + options.maxDuration;
  let stopped = false;
  const fail = (kind: string) => {
    result.failed++;
    result.failures[kind] = (result.failures[kind] ?? 0) + 1;
  };
  async function loop(): Promise<void> {
    while (!stopped && Date.now() < deadline && result.ok + result.failed < options.maxRequests) {
      try {
        const res = await get(url, {}, agent);
        if (res.status === 200) result.ok++;
        else fail(String(res.status));
      } catch (error) {
        fail((error as NodeJS.ErrnoException).code ?? (error as Error).message);
      }
      if (options.pause) await delay(options.pause);
    }
  }
  const loops = Promise.all(Array.from({ length: options.connections }, loop));
  return {
    result,
    async stop(): Promise<LoadResult> {
      stopped = true;
      await loops;
      agent.destroy();
      return result;
    },
  };
}
