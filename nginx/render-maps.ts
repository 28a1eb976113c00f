import type { Config } from '../config/index.js';
import { indent } from './indent.js';

function block(head: string, entries: ReadonlyArray<[string, string]>): string[] {
  return [`${head} {`, ...indent(entries.map(([key, value]) => `${key} ${value};`)), '}'];
}

/**
 * The http-level variables the server block forwards. Every header rule that depends on the
 * request is decided here, once, as our proxy decides header trust in one place.
 */
export function renderMaps(config: Config): string[] {
  return [
    '# Is the connecting peer a trusted proxy? Only then are its X-Forwarded-Proto and X-Request-Id kept.',
    '# $realip_remote_addr is the peer itself, before realip replaces $remote_addr.',
    ...block('geo $realip_remote_addr $gatehouse_trusted', [
      ['default', '0'],
      ...config.trustedProxies.map((cidr): [string, string] => [cidr, '1']),
    ]),
    '',
    '# An absolute-form target (GET http://a.example/x) names the host: it wins over Host (RFC 9112 3.2.2).',
    ...block('map $request $gatehouse_target_authority', [
      ['"~^\\S+ https?://(?<gatehouse_authority>[^/?#\\s]+)"', '$gatehouse_authority'],
      ['default', '""'],
    ]),
    '',
    '# Host as the client sent it, port included ($host drops the port); $host when the client sent none;',
    "# the target's authority when it had one.",
    ...block('map "$gatehouse_target_authority|$http_host" $gatehouse_host', [
      ['"~^(?<gatehouse_named>[^|]+)\\|"', '$gatehouse_named'],
      ['"|"', '$host'],
      ['default', '$http_host'],
    ]),
    '',
    '# The client\'s list (repeated lines joined with ", ") plus the peer that connected. Not',
    '# $proxy_add_x_forwarded_for: behind realip that appends the client address, not the peer.',
    ...block('map $http_x_forwarded_for $gatehouse_forwarded_for', [
      ['""', '$realip_remote_addr'],
      ['default', '"$http_x_forwarded_for, $realip_remote_addr"'],
    ]),
    '',
    ...block('map "$gatehouse_trusted:$http_x_forwarded_proto" $gatehouse_forwarded_proto', [
      ['"~^1:(?<gatehouse_proto>https?)$"', '$gatehouse_proto'],
      ['default', '$scheme'],
    ]),
    '',
    '# A request id is kept from a trusted proxy (if well-formed), else made here; the worker logs it.',
    ...block('map "$gatehouse_trusted:$http_x_request_id" $gatehouse_request_id', [
      ['"~^1:(?<gatehouse_client_request_id>[\\w.:+/=-]{1,200})$"', '$gatehouse_client_request_id'],
      ['default', '$request_id'],
    ]),
    '',
    '# Upgrade and Connection reach a worker only for a WebSocket handshake: never h2c or anything else.',
    ...block('map $http_upgrade $gatehouse_upgrade', [
      ['"~*^websocket$"', 'websocket'],
      ['default', '""'],
    ]),
    '',
    ...block('map $http_upgrade $gatehouse_connection', [
      ['"~*^websocket$"', 'upgrade'],
      ['default', '""'],
    ]),
  ];
}
