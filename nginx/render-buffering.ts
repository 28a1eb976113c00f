import { join } from 'node:path';
import type { Config } from '../config/index.js';
import type { NginxTarget } from './render.js';

const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * A size as nginx's size directives take it: k or m, never g (unlike client_max_body_size, which is
 * an offset, proxy_max_temp_file_size "1g" is refused by nginx -t).
 */
export function nginxSize(bytes: number): string {
  if (bytes > 0 && bytes % MIB === 0) return `${bytes / MIB}m`;
  if (bytes > 0 && bytes % KIB === 0) return `${bytes / KIB}k`;
  return String(bytes);
}

/**
 * The response head must fit in proxy_buffer_size, or nginx answers 502 ("upstream sent too big
 * header"). Our proxy reads a worker's head with Node's HTTP parser, whose limit is 16 KiB; nginx's
 * default (one page, 4k) would turn heads our proxy passes (large Set-Cookie lines) into 502s.
 * client_max_header_size bounds the client's request head, not the worker's answer, so it is not used.
 */
export const HEAD_BUFFER = 16 * KIB;

/** The proxy_buffers piece for a small memory bound: one page, nginx's own default on x86. */
const PIECE = 4 * KIB;
/** More pieces than this and a larger memory bound gets larger pieces, not ever more of them. */
const MAX_PIECES = 64;

export interface ResponseBuffers {
  count: number;
  size: number;
  /** proxy_busy_buffers_size: set, as nginx's default (twice the head buffer) needs more pieces. */
  busy: number;
}

/**
 * proxy_buffers count × size about buffering.memory, the bytes of one body our proxy keeps in memory
 * before it spills to a temp file: nginx keeps that much of a response in memory (besides the head
 * buffer, whose rest also carries the first body bytes) and writes the rest to proxy_temp_path.
 * nginx's own constraints: at least 2 pieces, and proxy_busy_buffers_size (at least the head buffer
 * or one piece) no more than all pieces but one — hence at least 5 pieces of 4k with a 16k head.
 */
export function responseBuffers(memory: number): ResponseBuffers {
  const size = Math.max(PIECE, Math.ceil(memory / MAX_PIECES / PIECE) * PIECE);
  const busy = Math.max(HEAD_BUFFER, size);
  const count = Math.max(2, Math.ceil(memory / size), Math.ceil(busy / size) + 1);
  return { count, size, busy };
}

/**
 * The buffering directives of the proxy location, from buffering.* (nginx's own defaults are the
 * config's defaults, but spelled out: the file says what this config does).
 */
export function renderBuffering(config: Config, target: NginxTarget): string[] {
  const { request, response, memory, tempPath, maxTempFileSize } = config.buffering;
  const buffers = responseBuffers(memory);
  // nginx -t refuses a temp file limit below the larger of the head buffer and one piece (0 = none).
  const maxTemp = maxTempFileSize === 0 ? 0 : Math.max(maxTempFileSize, HEAD_BUFFER, buffers.size);
  const on = (flag: boolean) => (flag ? 'on' : 'off');
  const tempPaths =
    target === 'compose'
      ? [
          "# Temp files: the nginx:stable image's own folders (/var/cache/nginx/*_temp). buffering.temp_path",
          "# is a folder in the proxy's container, which the nginx container does not have.",
        ]
      : [
          '# Temp files: under buffering.temp_path, which must exist (nginx makes only the last level) and',
          `# which nginx's worker user (www-data) must be able to enter: install -d -m 0711 ${tempPath}`,
          '# (our proxy makes that folder 0700 for its own user when it is missing: chmod it 0711 for nginx).',
          `client_body_temp_path ${join(tempPath, 'nginx-client-body')};`,
          `proxy_temp_path ${join(tempPath, 'nginx-proxy')};`,
        ];
  return [
    '# Buffering, so a slow client never holds a worker: the whole request body is read before a',
    "# worker is picked (request), and the worker's answer is read as fast as it is written, to memory",
    '# then a temp file, while the client is fed (response). A worker that sends',
    '# "X-Accel-Buffering: no" is streamed to the client unbuffered (nginx hides that header).',
    '# WebSocket tunnels are never buffered: after the 101, nginx relays both ways as bytes arrive.',
    `proxy_request_buffering ${on(request)};`,
    `proxy_buffering ${on(response)};`,
    '# Bytes of a request body kept in memory; the rest goes to a temp file.',
    `client_body_buffer_size ${nginxSize(memory)};`,
    `# A worker's response head up to ${nginxSize(HEAD_BUFFER)}, as our proxy's HTTP parser allows; then about`,
    `# buffering.memory (${nginxSize(memory)}) of its body in memory, the rest in a temp file.`,
    '# Buffered, nginx passes a Content-Length body on only as these buffers fill (a chunked one chunk by',
    '# chunk): a worker that trickles such a body to a waiting client sends "X-Accel-Buffering: no".',
    `proxy_buffer_size ${nginxSize(HEAD_BUFFER)};`,
    `proxy_buffers ${buffers.count} ${nginxSize(buffers.size)};`,
    `proxy_busy_buffers_size ${nginxSize(buffers.busy)};`,
    "# One response's temp file at most; past it nginx reads the worker only as fast as the client. nginx",
    "# has no bound on all temp files together (buffering.max_disk is our proxy's only).",
    `proxy_max_temp_file_size ${nginxSize(maxTemp)};`,
    ...tempPaths,
  ];
}
