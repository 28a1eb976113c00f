export type LoadTool = 'autocannon' | 'wrk';

/** One bounded burst of load against one URL: by time, or by count (`amount`, autocannon only). */
export interface LoadRun {
  url: string;
  connections: number;
  method: 'GET' | 'POST';
  /** Request body size in bytes (0: none). */
  bodyBytes: number;
  /** Seconds; ignored when `amount` is set. */
  duration: number;
  amount?: number;
}

export interface LoadResult {
  tool: LoadTool;
  /** Completed responses. */
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  /** Connect/read/write errors and timeouts. */
  socketErrors: number;
}
