import type { Writable } from 'node:stream';
import { mayTag } from '../dev-reload/inject.js';
import type { Exchange } from '../exchange.js';
import { decideCompression } from './decide.js';
import { compressedHead } from './head.js';
import type { Coding } from './negotiate.js';
import { CompressedBody } from './stream.js';

/** A proxied response head after the compression decision, and the coding its body gets (null: as it is, or none). */
export interface CompressedAnswer {
  headers: string[];
  coding: Coding | null;
  /** The upstream's Content-Length when it gave one (the compressed head no longer has it). */
  length: number | null;
}

/** The compression decision for one exchange's upstream answer (decide.ts), applied to its head. */
export function compressAnswer(ex: Exchange, status: number, headers: string[]): CompressedAnswer {
  const { req } = ex;
  let plan = decideCompression(
    ex.runtime.config.compression,
    {
      method: req.method,
      httpVersion: req.httpVersion,
      acceptEncoding: headerText(req.headers['accept-encoding']),
      range: req.headers.range !== undefined,
    },
    status,
    headers,
  );
  // Development reload puts its tag into pages as they pass, uncompressed (dev-reload/inject.ts).
  if (plan.coding !== null && mayTag(ex.res, status, headers)) plan = { coding: null, vary: plan.vary };
  if (!plan.vary && plan.coding === null) return { headers, coding: null, length: null };
  // A HEAD's head says what its GET would get; there is no body to compress.
  return {
    headers: compressedHead(headers, plan),
    coding: req.method === 'HEAD' ? null : plan.coding,
    length: contentLength(headers),
  };
}

/**
 * Where the body goes once the head is out: the client's response, or a CompressedBody in front
 * of it. A compressed body's bytes count as sent (nginx $body_bytes_sent) as zlib emits them.
 */
export function bodySink(ex: Exchange, coding: Coding | null, length: number | null): Writable {
  if (coding === null) return ex.res;
  const level = ex.runtime.config.compression?.level ?? 5;
  return new CompressedBody(ex.res, { coding, level, length }, (bytes) => {
    ex.bytesSent += bytes;
  });
}

/** A raw header list's Content-Length, when it has one valid one. */
function contentLength(headers: readonly string[]): number | null {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== 'content-length') continue;
    const value = headers[i + 1]!;
    return /^\d+$/.test(value) ? Number(value) : null;
  }
  return null;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
