import { count, duration, size } from './schema-refs.js';

/**
 * The `workers` and `upstream` sections' schemas: the top level's, and again inside each route
 * that has its own pool (config/route-schema.ts), with the same keys and meanings.
 */
export const workersSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    count: count(1),
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    app: { type: ['string', 'null'] },
    diagnostics: { type: 'boolean' },
    body_limit: size,
    grace_period: duration,
    keepalive_timeout: duration,
    max_memory: { type: 'string', pattern: '^\\d+[KMG]?$' },
    concurrency: { anyOf: [count(1), { type: 'null' }] },
    timeout: duration,
  },
} as const;

export const upstreamSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    servers: { type: 'array', items: { $ref: '#/$defs/server' } },
    resolve: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['host', 'port'],
      properties: {
        host: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        interval: duration,
      },
    },
    docker: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['stack'],
      properties: {
        stack: { type: 'string', pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$' },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        socket: { type: 'string', minLength: 1 },
        route: { type: 'string', minLength: 1 },
      },
    },
    balance: { enum: ['round_robin', 'least_conn', 'ip_hash', 'random'] },
    keepalive: count(0),
    keepalive_timeout: duration,
    max_fails: count(0),
    fail_timeout: duration,
    health: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        path: { type: 'string', pattern: '^/' },
        interval: duration,
        timeout: duration,
        rise: count(1),
        fall: count(1),
      },
    },
  },
} as const;
