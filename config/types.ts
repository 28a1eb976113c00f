/** The resolved, validated configuration: durations in milliseconds, sizes in bytes. Frozen. */

export type BalanceName = 'round_robin' | 'least_conn' | 'ip_hash' | 'random';
export type NextUpstreamCondition = 'error' | 'timeout' | 'http_502' | 'http_503' | 'http_504';
export type AccessLogFormat = 'combined' | 'json';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug';

export interface Address {
  host: string;
  port: number;
}

export interface ServerConfig {
  /** "host:port" as written in the config (IPv6 hosts in brackets). */
  address: string;
  host: string;
  port: number;
  weight: number;
  maxFails: number;
  failTimeout: number;
  backup: boolean;
}

export interface ResolveConfig {
  host: string;
  port: number;
  interval: number;
}

export interface HealthConfig {
  enabled: boolean;
  path: string;
  interval: number;
  timeout: number;
  rise: number;
  fall: number;
}

export interface DockerDiscoveryConfig {
  /** Containers labelled gatehouse.stack=<stack> and gatehouse.role=worker form the pool. */
  stack: string;
  /** The port the workers listen on inside their containers. */
  port: number;
  /** Docker Engine API socket. */
  socket: string;
  /** Only the workers labelled gatehouse.route=<route>; absent: only those without that label (the top-level pool). */
  route?: string;
}

export interface UpstreamConfig {
  /** Static servers; when `resolve` or `docker` is set, the servers come from there instead. */
  servers: readonly ServerConfig[];
  /**
   * `servers` was left empty, so it is one server per worker (workers.count from workers.port);
   * under the pm2 ecosystem the pool then follows pm2's live worker set instead.
   */
  serversFromWorkers: boolean;
  resolve: ResolveConfig | null;
  docker: DockerDiscoveryConfig | null;
  balance: BalanceName;
  keepalive: number;
  keepaliveTimeout: number;
  maxFails: number;
  failTimeout: number;
  health: HealthConfig;
}

export interface WorkersConfig {
  count: number;
  host: string;
  port: number;
  app: string | null;
  diagnostics: boolean;
  bodyLimit: number;
  gracePeriod: number;
  keepaliveTimeout: number;
  /** pm2 max_memory_restart, as written ("512M"). */
  maxMemory: string;
  /**
   * Requests a worker serves at once; more wait in its accept queue (never a 503). null =
   * unlimited (gunicorn's async workers); 1 = gunicorn's sync worker.
   */
  concurrency: number | null;
  /**
   * gunicorn's --timeout: a worker whose event loop stays blocked this long (ms) is killed by its
   * own watchdog thread (app/watchdog.ts), for pm2 or Docker to restart it. 0 = no watchdog.
   */
  timeout: number;
}

/**
 * nginx-style buffering between the client and the worker, so a slow client never holds a worker
 * (proxy_request_buffering, proxy_buffering and their sizes).
 */
export interface BufferingConfig {
  /** The whole request body is read before an upstream is picked (proxy_request_buffering). */
  request: boolean;
  /** The upstream's response is read as fast as the worker writes it (proxy_buffering). */
  response: boolean;
  /** Bytes of one body kept in memory before the rest goes to a temp file (client_body_buffer_size). */
  memory: number;
  /** Where temp files go (client_body_temp_path, proxy_temp_path): made 0700, files 0600. */
  tempPath: string;
  /** One response's temp file at most; past it, backpressure (proxy_max_temp_file_size; 0 = no file). */
  maxTempFileSize: number;
  /** All temp files of one proxy process together at most; past it a new upload gets 503. */
  maxDisk: number;
}

export interface TimeoutsConfig {
  connect: number;
  read: number;
  send: number;
  clientHeader: number;
  clientBody: number;
  clientKeepalive: number;
  websocketIdle: number;
  shutdown: number;
}

export interface RetriesConfig {
  nextUpstream: readonly NextUpstreamCondition[];
  /** Attempts at most, the first included; 0 = as many as there are servers. */
  tries: number;
}

export interface AccessLogConfig {
  format: AccessLogFormat;
  /** 'stdout', 'off', or a file path. */
  path: string;
}

export interface StatusConfig {
  listen: Address;
  /**
   * Bearer token every status-listener request needs (but /healthz); null = none, allowed only on
   * a loopback status.listen. From the file, or GATEHOUSE_STATUS_TOKEN (which wins).
   */
  token: string | null;
}

export interface Config {
  /** The file it was read from, or null for the embedded default. */
  source: string | null;
  listen: Address;
  instances: number;
  status: StatusConfig;
  workers: WorkersConfig;
  upstream: UpstreamConfig;
  timeouts: TimeoutsConfig;
  buffering: BufferingConfig;
  clientMaxBodySize: number;
  clientMaxHeaderSize: number;
  trustedProxies: readonly string[];
  retries: RetriesConfig;
  accessLog: AccessLogConfig;
  logLevel: LogLevel;
  /** HTTPS and HTTP/2 beside the plain listener; null = off. */
  tls: TlsConfig | null;
  /** Several apps behind one front; empty = the top-level pool serves every request. */
  routes: readonly RouteConfig[];
  /** Proxied responses compressed at the front (config/compression.ts); null = off. */
  compression: CompressionConfig | null;
  /** Rate limits of every route that sets none of its own (and of the one pool without routes). */
  limits: LimitsConfig;
}

/** nginx gzip, gzip_types, gzip_min_length, gzip_comp_level; brotli beside gzip. */
export interface CompressionConfig {
  /** Media types compressed, lower case, without parameters; "*" = every type. */
  types: readonly string[];
  /** Responses whose Content-Length is below this stay as they are (chunked ones are compressed). */
  minLength: number;
  /** 1–9: gzip's level and brotli's quality. */
  level: number;
}

/**
 * HTTPS and HTTP/2 at the edge (config `tls:`; null = off, the embedded default). The contract
 * between the TLS listener (proxy/tls/), automatic certificates (proxy/tls/acme/) and the nginx
 * renderer: `Config.tls` takes this shape once the loader reads the section.
 */
export interface TlsCertificateConfig {
  /** PEM certificate (chain) file, absolute. The server names come from it (SAN, else CN). */
  cert: string;
  /** PEM private key file, absolute. */
  key: string;
}

export interface AcmeConfig {
  /** Account contact (mailto:). */
  email: string;
  /** The ACME directory URL (RFC 8555). */
  directory: string;
  /** Names on the one certificate ordered (HTTP-01 for each). */
  domains: readonly string[];
  /** Folder for the account key and the certificates obtained (files 0600), absolute. */
  storage: string;
}

export interface TlsConfig {
  listen: Address;
  /** The first is the default (no SNI, or no name matches); SNI picks the most specific. */
  certificates: readonly TlsCertificateConfig[];
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** ALPN h2 beside http/1.1 on the TLS port. */
  http2: boolean;
  /** The plain listener answers 308 to https (not ACME challenges, not /healthz). */
  redirectHttp: boolean;
  /** Strict-Transport-Security max-age in seconds; 0 = no header. */
  hsts: number;
  acme: AcmeConfig | null;
}

/**
 * One route (config `routes:`): nginx's `server_name` + `location`. The proxy (proxy/routes/), the
 * nginx renderer and the pm2 ecosystem read the same list.
 */
export interface RouteConfig {
  /** `name`, else host + path ("api.example.com/v1/"; "*" for any host): metrics, status, nginx. */
  name: string;
  /** Exact ("a.example.com"), leading wildcard ("*.example.com"), or null = any host. Lower case. */
  host: string | null;
  /** Path prefix, nginx `location /prefix` (a plain string prefix, as nginx compares). */
  path: string;
  /** The prefix is cut off before the request goes on (nginx `proxy_pass http://pool/;`). */
  stripPrefix: boolean;
  target: RouteTarget;
  /** The route's own `limits:`; absent = the top-level `limits` apply (nginx's inheritance). */
  limits?: LimitsConfig;
}

export type RouteTarget = RoutePoolTarget | RouteStaticTarget | RouteRedirectTarget;

export interface RoutePoolTarget {
  kind: 'pool';
  /** This route's own pool, or the top-level one (`default`: the route gave no upstream). */
  pool: 'default' | 'own';
  /** The top-level sections' values with the route's own keys over them. */
  upstream: UpstreamConfig;
  workers: WorkersConfig;
  /** The route starts its own workers (it has a `workers:` key and its upstream lists no servers). */
  localWorkers: boolean;
}

export interface RouteStaticTarget {
  kind: 'static';
  /** Absolute folder the files are served from. */
  root: string;
  /** Cache-Control max-age in ms; null = no Cache-Control (`expires: off`). */
  expires: number | null;
  immutable: boolean;
}

export interface RouteRedirectTarget {
  kind: 'redirect';
  /** URL or path; the request's path (without the prefix when strip_prefix) and query follow it. */
  to: string;
  status: 301 | 302 | 303 | 307 | 308;
}

/** Request rate limits (config `limits:`): nginx's limit_req, one leaky bucket per key and route. */
export interface LimitsConfig {
  /** null = requests are not limited. */
  requests: RequestLimitConfig | null;
}

export interface RequestLimitConfig {
  /** As written ("10r/s", "30r/m"): nginx's limit_req_zone rate. */
  rate: string;
  /** Milli-requests per second, nginx's integer arithmetic (10r/s = 10000, 1r/m = 16). */
  milliRate: number;
  /** Requests over the rate delayed to it (let through at once with nodelay); more get 429. */
  burst: number;
  nodelay: boolean;
  key: LimitKey;
}

/** What a bucket is kept per: the client address after trusted_proxies, or a request header (lower case). */
export type LimitKey = { kind: 'client_ip' } | { kind: 'header'; name: string };
