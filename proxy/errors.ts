/**
 * Every way a proxied request can fail, each with a stable code and the status the client gets.
 * One function (`toProxyError`) turns any upstream failure into one of these.
 */
export type ProxyErrorCode =
  | 'GH_ERR_NO_UPSTREAM' // no server available at all
  | 'GH_ERR_UPSTREAM_CONNECT' // refused, unreachable, or reset before the request was sent
  | 'GH_ERR_UPSTREAM_CONNECT_TIMEOUT'
  | 'GH_ERR_UPSTREAM_RESET' // the connection broke after (part of) the request was sent
  | 'GH_ERR_UPSTREAM_TIMEOUT' // no byte from the upstream within the read timeout
  | 'GH_ERR_UPSTREAM_SEND_TIMEOUT' // the upstream took no request byte within the send timeout
  | 'GH_ERR_UPSTREAM_STATUS' // a 502/503/504 from the upstream, retried per next_upstream
  | 'GH_ERR_BODY_TOO_LARGE'
  | 'GH_ERR_BUFFER_FULL' // buffering.max_disk has no room for another request body
  | 'GH_ERR_BUFFER_WRITE' // a request body's temp file could not be written
  | 'GH_ERR_CLIENT_TIMEOUT'
  | 'GH_ERR_BAD_REQUEST'
  | 'GH_ERR_NO_ROUTE' // no route for the host and path (nginx's default server, or no location)
  | 'GH_ERR_HEADER_TOO_LARGE'
  | 'GH_ERR_RATE_LIMITED'; // over a route's limits.requests burst (nginx limit_req)

const STATUS: Record<ProxyErrorCode, number> = {
  GH_ERR_NO_UPSTREAM: 502,
  GH_ERR_UPSTREAM_CONNECT: 502,
  GH_ERR_UPSTREAM_CONNECT_TIMEOUT: 504,
  GH_ERR_UPSTREAM_RESET: 502,
  GH_ERR_UPSTREAM_TIMEOUT: 504,
  GH_ERR_UPSTREAM_SEND_TIMEOUT: 504,
  GH_ERR_UPSTREAM_STATUS: 502,
  GH_ERR_BODY_TOO_LARGE: 413,
  GH_ERR_BUFFER_FULL: 503,
  GH_ERR_BUFFER_WRITE: 500,
  GH_ERR_CLIENT_TIMEOUT: 408,
  GH_ERR_BAD_REQUEST: 400,
  GH_ERR_NO_ROUTE: 404,
  GH_ERR_HEADER_TOO_LARGE: 431,
  // nginx's limit_req answers 503 by default; the rendered config says limit_req_status 429.
  GH_ERR_RATE_LIMITED: 429,
};

export class ProxyError extends Error {
  readonly status: number;
  /** Seconds until a retry may pass (Retry-After), where the failure knows it (a rate limit). */
  waitSeconds: number | undefined;
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    /** For upstream failures: whether any of the request may have reached the upstream. */
    readonly requestSent = false,
  ) {
    super(message);
    this.name = 'ProxyError';
    this.status = STATUS[code];
  }

  /** nginx's proxy_next_upstream classes: `timeout` for timeouts, `error` for the rest. */
  get kind(): 'error' | 'timeout' | 'status' | 'client' {
    switch (this.code) {
      case 'GH_ERR_UPSTREAM_CONNECT_TIMEOUT':
      case 'GH_ERR_UPSTREAM_TIMEOUT':
      case 'GH_ERR_UPSTREAM_SEND_TIMEOUT':
        return 'timeout';
      case 'GH_ERR_UPSTREAM_STATUS':
        return 'status';
      case 'GH_ERR_UPSTREAM_CONNECT':
      case 'GH_ERR_UPSTREAM_RESET':
      case 'GH_ERR_NO_UPSTREAM':
        return 'error';
      default:
        return 'client';
    }
  }
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Maps a transport error to a ProxyError; `requestSent` says whether the socket had carried the request. */
export function toProxyError(err: unknown, requestSent: boolean): ProxyError {
  if (err instanceof ProxyError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  const message = (err as Error | undefined)?.message ?? String(err);
  // undici's codes: no connection within timeouts.connect; no response byte within timeouts.read.
  if (code === 'UND_ERR_CONNECT_TIMEOUT')
    return new ProxyError('GH_ERR_UPSTREAM_CONNECT_TIMEOUT', 'upstream connect timeout', false);
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new ProxyError('GH_ERR_UPSTREAM_TIMEOUT', 'upstream read timeout', true);
  }
  if (CONNECT_CODES.has(code)) return new ProxyError('GH_ERR_UPSTREAM_CONNECT', `${code}: ${message}`, false);
  if (!requestSent) return new ProxyError('GH_ERR_UPSTREAM_CONNECT', `${code || 'error'}: ${message}`, false);
  return new ProxyError('GH_ERR_UPSTREAM_RESET', `${code || 'error'}: ${message}`, true);
}

const REASONS: Record<number, string> = {
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Content Too Large',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Seconds a client is told to wait (Retry-After) before trying again, for errors that pass. */
export function retryAfter(error: ProxyError): number | undefined {
  if (error.waitSeconds !== undefined) return error.waitSeconds;
  // Temp space frees up as the uploads holding it finish.
  return error.code === 'GH_ERR_BUFFER_FULL' ? 5 : undefined;
}

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error';
}

/** The small HTML page every proxy-made error response carries (nginx's look, our name). */
export function errorPage(status: number): string {
  const title = `${status} ${reasonPhrase(status)}`;
  return `<!doctype html>\n<html><head><title>${title}</title></head>\n<body>\n<center><h1>${title}</h1></center>\n<hr><center>gatehouse</center>\n</body></html>\n`;
}

/** A complete raw HTTP/1.1 error response, for sockets that never became a ServerResponse. */
export function rawErrorResponse(status: number, retryAfterSeconds?: number): string {
  const body = errorPage(status);
  const wait = retryAfterSeconds === undefined ? '' : `Retry-After: ${retryAfterSeconds}\r\n`;
  return `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nContent-Type: text/html\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${wait}Connection: close\r\n\r\n${body}`;
}
