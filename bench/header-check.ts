import { request } from 'node:http';
import type { FrontId, RunningFront } from './fronts.js';

/** What a client sends that a front must not pass on as is (PERFORMANCE.md's header run). */
const SENT: Record<string, string> = {
  Host: 'client.example:1234',
  'X-Forwarded-For': '203.0.113.7',
  'X-Real-IP': '198.51.100.9',
  'X-Request-Id': 'client-chosen-id',
  Connection: 'keep-alive, X-Hop',
  'X-Hop': 'named in Connection',
  'Keep-Alive': 'timeout=5',
  TE: 'trailers',
  'Proxy-Authorization': 'Basic eDp5',
};

/** The request headers the backend saw, reduced to what the contract speaks about. */
export interface HeaderVerdict {
  front: FrontId;
  host: string;
  xForwardedFor: string;
  xRealIp: string;
  xForwardedProto: string;
  /** 'fresh' when the client's id was replaced (no trusted proxies), else what arrived. */
  requestId: string;
  /** Hop-by-hop headers that reached the backend (should be none). */
  leaked: string[];
  /** The response's X-Request-Id matches the one the backend saw. */
  idEchoed: boolean;
}

function get(url: string): Promise<{ body: string; requestId: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/headers`, { headers: SENT, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.once('end', () => resolve({ body, requestId: res.headers['x-request-id'] as string | undefined }));
    });
    req.once('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('header check timed out')));
    req.end();
  });
}

export async function checkHeaders(front: RunningFront): Promise<HeaderVerdict> {
  const { body, requestId } = await get(front.url);
  const seen = JSON.parse(body) as Record<string, string | undefined>;
  const leaked = ['x-hop', 'keep-alive', 'te', 'proxy-authorization'].filter((h) => seen[h] !== undefined);
  const id = seen['x-request-id'] ?? '';
  return {
    front: front.id,
    host: seen.host ?? '',
    xForwardedFor: seen['x-forwarded-for'] ?? '',
    xRealIp: seen['x-real-ip'] ?? '',
    xForwardedProto: seen['x-forwarded-proto'] ?? '',
    requestId: id === SENT['X-Request-Id'] ? id : id ? 'fresh' : '',
    leaked,
    idEchoed: id !== '' && requestId === id,
  };
}

/** One line per front; the fields that differ from the first (our proxy) are marked. */
export function formatVerdicts(verdicts: readonly HeaderVerdict[]): string {
  const reference = verdicts[0];
  const field = (v: HeaderVerdict, key: keyof HeaderVerdict) => {
    const value = Array.isArray(v[key]) ? (v[key] as string[]).join(',') || 'none' : String(v[key]);
    const differs = reference && JSON.stringify(v[key]) !== JSON.stringify(reference[key]);
    return differs ? `${value} (≠)` : value;
  };
  return verdicts
    .map(
      (v) =>
        `  ${v.front.padEnd(18)} host=${field(v, 'host')} xff=${field(v, 'xForwardedFor')} x-real-ip=${field(v, 'xRealIp')}` +
        ` proto=${field(v, 'xForwardedProto')} request-id=${field(v, 'requestId')} echoed=${field(v, 'idEchoed')}` +
        ` hop-by-hop leaked=${field(v, 'leaked')}`,
    )
    .join('\n');
}
