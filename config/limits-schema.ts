import { count } from './schema-refs.js';

/**
 * `limits:` — request rate limits, nginx's limit_req: at the top level for every route that sets
 * none of its own (and the one pool when there are no routes), or on a route. `requests: null`
 * turns an inherited limit off. The rate and key are checked by config/limits.ts, whose messages
 * say what was expected.
 */
export const limitsSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    requests: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['rate'],
      properties: {
        rate: {
          type: 'string',
          description: 'requests per second or minute, as nginx writes it: "10r/s", "30r/m"',
        },
        // Requests over the rate that are delayed to it (or, with nodelay, let through at once).
        burst: count(0),
        nodelay: { type: 'boolean' },
        key: {
          type: 'string',
          description: 'client_ip (after trusted_proxies), or header:NAME such as header:X-Api-Key',
        },
      },
    },
  },
} as const;
