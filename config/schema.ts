import { compressionSchema } from './compression.js';
import { limitsSchema } from './limits-schema.js';
import { routesSchema } from './route-schema.js';
import { address, count, duration, size } from './schema-refs.js';
import { durationPattern, sizePattern } from './units.js';
import { upstreamSchema, workersSchema } from './upstream-schema.js';

/**
 * The JSON Schema of the config file (snake_case keys, as written). Published as
 * gatehouse.schema.json for editors; the loader validates with it, then checks what a
 * schema cannot (addresses, CIDRs, cross-field rules). Every value type that needs a
 * friendlier message than the validator's has a $defs entry whose description says what
 * was expected.
 */

export const configSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'gatehouse.schema.json',
  title: 'gatehouse config',
  type: 'object',
  additionalProperties: false,
  $defs: {
    duration: {
      description: 'a duration such as "60s", "500ms", "5m", or a number of milliseconds',
      anyOf: [
        { type: 'integer', minimum: 0 },
        { type: 'string', pattern: durationPattern },
      ],
    },
    size: {
      description: 'a size such as "1m", "16k", or a number of bytes',
      anyOf: [
        { type: 'integer', minimum: 0 },
        { type: 'string', pattern: sizePattern },
      ],
    },
    address: {
      description: 'an address "host:port", such as "127.0.0.1:8080" or "[::1]:8080"',
      type: 'string',
      minLength: 3,
    },
    server: {
      type: 'object',
      additionalProperties: false,
      required: ['address'],
      properties: {
        address,
        weight: count(1),
        max_fails: count(0),
        fail_timeout: duration,
        backup: { type: 'boolean' },
      },
    },
  },
  properties: {
    listen: address,
    instances: count(1),
    status: {
      type: 'object',
      additionalProperties: false,
      properties: {
        listen: address,
        // 16 characters at least: a token short enough to guess protects nothing. RFC 6750's
        // b64token characters: it goes in a header as is, and into nginx's config unquoted of `$`.
        token: {
          anyOf: [{ type: 'string', minLength: 16, pattern: '^[A-Za-z0-9._~+/-]+=*$' }, { type: 'null' }],
        },
      },
    },
    workers: workersSchema,
    upstream: upstreamSchema,
    timeouts: {
      type: 'object',
      additionalProperties: false,
      properties: {
        connect: duration,
        read: duration,
        send: duration,
        client_header: duration,
        client_body: duration,
        client_keepalive: duration,
        websocket_idle: duration,
        shutdown: duration,
      },
    },
    buffering: {
      type: 'object',
      additionalProperties: false,
      properties: {
        request: { type: 'boolean' },
        response: { type: 'boolean' },
        memory: size,
        temp_path: { type: ['string', 'null'], minLength: 1 },
        max_temp_file_size: size,
        max_disk: size,
      },
    },
    client_max_body_size: size,
    client_max_header_size: size,
    trusted_proxies: { type: 'array', items: { type: 'string' } },
    retries: {
      type: 'object',
      additionalProperties: false,
      properties: {
        next_upstream: {
          type: 'array',
          uniqueItems: true,
          items: { enum: ['error', 'timeout', 'http_502', 'http_503', 'http_504'] },
        },
        tries: count(0),
      },
    },
    access_log: {
      type: 'object',
      additionalProperties: false,
      properties: {
        format: { enum: ['combined', 'json'] },
        path: { type: 'string', minLength: 1 },
      },
    },
    log_level: { enum: ['fatal', 'error', 'warn', 'info', 'debug'] },
    tls: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['listen'],
      properties: {
        listen: address,
        certificates: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['cert', 'key'],
            properties: {
              cert: { type: 'string', minLength: 1 },
              key: { type: 'string', minLength: 1 },
            },
          },
        },
        min_version: { enum: ['TLSv1.2', 'TLSv1.3'] },
        http2: { type: 'boolean' },
        redirect_http: { type: 'boolean' },
        // A duration ("365d"); null or 0 = no Strict-Transport-Security header.
        hsts: { anyOf: [duration, { type: 'null' }] },
        acme: {
          type: ['object', 'null'],
          additionalProperties: false,
          required: ['email', 'directory', 'domains'],
          properties: {
            email: { type: 'string', pattern: '^[^@\\s]+@[^@\\s]+$' },
            directory: { type: 'string', pattern: '^https?://' },
            domains: {
              type: 'array',
              minItems: 1,
              uniqueItems: true,
              items: { type: 'string', minLength: 1 },
            },
            storage: { type: 'string', minLength: 1 },
          },
        },
      },
    },
    // Several apps behind one front (config/route-schema.ts); absent = the one pool above.
    routes: routesSchema,
    compression: compressionSchema,
    // Request rate limits (config/limits-schema.ts); off unless set.
    limits: limitsSchema,
  },
} as const;
