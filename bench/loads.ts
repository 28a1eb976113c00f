import type { BackendKind } from './backends.js';
import type { FrontId } from './fronts.js';

export interface LoadSpec {
  id: string;
  label: string;
  backend: BackendKind;
  path: string;
  connections: number;
  method: 'GET' | 'POST';
  bodyBytes: number;
}

function load(id: string, label: string, backend: BackendKind, path: string, connections: number): LoadSpec {
  return { id, label, backend, path, connections, method: 'GET', bodyBytes: 0 };
}

export const LOADS: readonly LoadSpec[] = [
  load('small-1', 'GET 12 B, 1 conn', 'hello', '/', 1),
  load('small-50', 'GET 12 B, 50 conns', 'hello', '/', 50),
  load('16k-1', 'GET 16 KiB, 1 conn', 'hello', '/16k', 1),
  load('16k-50', 'GET 16 KiB, 50 conns', 'hello', '/16k', 50),
  { ...load('post-64k-50', 'POST 64 KiB, 50 conns', 'hello', '/', 50), method: 'POST', bodyBytes: 64 * 1024 },
  load('site-home-50', 'site GET /, 50 conns', 'site', '/', 50),
  load('site-headers-50', 'site GET /headers, 50 conns', 'site', '/headers', 50),
];

/** The headline load: the summary line and the targets are taken on it. */
export const HEADLINE = 'small-50';

export const BASE_FRONTS: readonly FrontId[] = [
  'direct',
  'gatehouse',
  'nginx',
  'http-proxy',
  'http-proxy-agent',
];
/** Extra rows, on the headline load only: the access log's cost and a second process. */
export const HEADLINE_EXTRAS: readonly FrontId[] = ['gatehouse-log-off', 'gatehouse-x2'];

export function findLoad(id: string): LoadSpec {
  const found = LOADS.find((l) => l.id === id);
  if (!found) throw new Error(`unknown load "${id}" (expected ${LOADS.map((l) => l.id).join(', ')})`);
  return found;
}
