import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { RawAnswer, RawBackend, RawRequest } from '../helpers/raw-backend.js';
import type { FrontName } from './fronts.js';
import { exchange, type RawResponse, rawRequest } from './raw-client.js';
import type { ScriptedBackend } from './scripted-backend.js';

/** A backend a case puts behind the front. */
export type BackendSpec =
  /** A recording backend (test/helpers/raw-backend.ts). */
  | { kind: 'raw'; name?: string; answer?: RawAnswer | ((request: RawRequest) => RawAnswer) }
  /** A real sample worker process (`gatehouse worker`). */
  | { kind: 'worker' }
  /** An address where nothing listens: connections are refused. */
  | { kind: 'down' }
  /** A backend the case starts itself (test/conformance/scripted-backend.ts), once per run. */
  | { kind: 'scripted'; start: () => Promise<ScriptedBackend> };

export interface CaseEnv {
  front: FrontName;
  /** The front's port on 127.0.0.1. */
  port: number;
  /** The recording backends, in the order the case listed them. */
  raw: RawBackend[];
  /** The scripted backends, in the order the case listed them. */
  scripted: ScriptedBackend[];
  /** Every upstream server address, in the order the case listed the backends. */
  servers: string[];
}

type Raw = Record<string, unknown>;

export interface ConformanceCase {
  /** States the behaviour pinned; the test name. */
  name: string;
  backends: BackendSpec[];
  /** Raw config keys over the suite's base config; a function when they name the servers. */
  overrides?: Raw | ((servers: string[]) => Raw);
  /** Where the fronts legitimately differ: what each does. The README's table is made from these. */
  differs?: Record<FrontName, string>;
  check(env: CaseEnv): Promise<void>;
}

/** The expectation for this front, where the fronts legitimately differ. */
export function byFront<T>(env: CaseEnv, expected: Record<FrontName, T>): T {
  return expected[env.front];
}

/** Sends a request on a fresh connection; Host is client.example unless a Host line is given. */
export function send(
  env: CaseEnv,
  request: { method?: string; target?: string; headers?: string[]; body?: string | Buffer; timeout?: number },
): Promise<RawResponse> {
  const { method = 'GET', target = '/', headers = [], body = '', timeout } = request;
  const lines = [`${method} ${target} HTTP/1.1`];
  if (!headers.some((h) => /^host:/i.test(h))) lines.push('Host: client.example');
  lines.push(...headers);
  if (body.length > 0 && !headers.some((h) => /^(content-length|transfer-encoding):/i.test(h))) {
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  }
  return exchange(env.port, rawRequest(lines, body), { method, ...(timeout ? { timeout } : {}) });
}

/** The one request a backend received (asserting there was exactly one across all backends). */
export function onlyRequest(env: CaseEnv): RawRequest {
  const all = env.raw.flatMap((b) => b.requests);
  if (all.length !== 1) {
    throw new Error(
      `expected exactly one forwarded request, got ${all.length}:\n${all.map((r) => r.head).join('\n')}`,
    );
  }
  return all[0]!;
}

/** A readable rendering of a response for assertion messages. */
export function describe(response: RawResponse): string {
  return response.raw.toString('latin1').slice(0, 600);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
export const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Not one connection reached a recording backend. */
export function nothingForwarded(env: CaseEnv): void {
  assert.deepEqual(
    env.raw.map((b) => b.connections),
    env.raw.map(() => 0),
    'no backend may even be connected to',
  );
}
