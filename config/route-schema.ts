import { limitsSchema } from './limits-schema.js';
import { duration } from './schema-refs.js';
import { upstreamSchema, workersSchema } from './upstream-schema.js';

/**
 * `routes:` — several apps behind one front, nginx's `server_name` + `location`. Each route is a
 * host and a path prefix that go to its own pool (`upstream`, with `workers` it starts itself), a
 * static directory, a redirect, or — with none of the three — the top-level pool. What a schema
 * cannot say (one target at most, overlaps, shadowed routes) config/routes.ts checks.
 */
const hostLabel = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';

export const routeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // Names the route in metrics, the status page and the rendered nginx upstream block.
    name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' },
    // An exact name, a leading wildcard (*.example.com) or * (any): nginx server_name.
    host: { type: 'string', pattern: `^(\\*|(\\*\\.)?${hostLabel}(\\.${hostLabel})*)$` },
    // A prefix of the path, as nginx's `location /prefix`; no query, no spaces, no dot segments.
    path: { type: 'string', pattern: '^/[^\\s?#%\\\\]*$' },
    strip_prefix: { type: 'boolean' },
    upstream: upstreamSchema,
    workers: workersSchema,
    static: {
      type: 'object',
      additionalProperties: false,
      required: ['root'],
      properties: {
        root: { type: 'string', minLength: 1 },
        expires: { anyOf: [duration, { const: 'off' }] },
        immutable: { type: 'boolean' },
      },
    },
    redirect: {
      type: 'object',
      additionalProperties: false,
      required: ['to'],
      properties: {
        // An absolute URL or a path; the request's path (and query) is appended.
        to: { type: 'string', pattern: '^(https?://[^\\s/?#]+(/[^\\s?#]*)?|/[^\\s?#]*)$' },
        status: { enum: [301, 302, 303, 307, 308] },
      },
    },
    // This route's rate limits, over the top-level ones (`requests: null`: none here).
    limits: limitsSchema,
  },
} as const;

export const routesSchema = { type: 'array', items: routeSchema } as const;
