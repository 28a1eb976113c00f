import { randomUUID } from 'node:crypto';

/** What a request id may look like when a peer sends one: short, printable, no spaces. */
const REQUEST_ID = /^[\w.:+/=-]{1,200}$/;

/**
 * The request id to use: the one the peer sent when it is well-formed, else a fresh UUID. The
 * worker takes the proxy's; the proxy takes a trusted proxy's only (it decides that before).
 */
export function acceptRequestId(sent: string | string[] | undefined): string {
  return typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
}
