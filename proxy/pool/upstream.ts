import type { ServerConfig } from '../../config/index.js';
import type { WorkerReport } from '../../stack/worker-identity.js';

/**
 * One server of the pool: its address and weight plus its live state. Health checkers write
 * that state; balancers only ask `available()`.
 */
export class Upstream {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly maxFails: number;
  readonly failTimeout: number;
  readonly backup: boolean;

  /** Requests being forwarded to it now. */
  inFlight = 0;
  /** Requests sent to it, and how many of those failed (error, timeout, 5xx counted as failure). */
  requests = 0;
  failures = 0;
  /** Active health: false after `fall` failed probes, true again after `rise` good ones. */
  healthy = true;
  /**
   * The worker answering on this address, as its last health answer said (active health writes
   * it); null until one did. Container replicas all say pid 7, instance 0: the host name differs.
   */
  worker: WorkerReport | null = null;
  /** Taken out of rotation on purpose (a container about to stop): requests in flight finish, no new ones. */
  draining = false;
  /** Passive health: failures in the current fail_timeout window, and when it may be tried again. */
  recentFails = 0;
  private windowStart = 0;
  /** 0 while in good standing; otherwise the end of its time out (past it: on probation). */
  downUntil = 0;
  /** Scratch state owned by the balancing policy (smooth weighted round robin's current weight). */
  currentWeight = 0;

  constructor(server: Pick<ServerConfig, 'address' | 'host' | 'port'> & Partial<ServerConfig>) {
    this.address = server.address;
    this.host = server.host;
    this.port = server.port;
    this.weight = server.weight ?? 1;
    this.maxFails = server.maxFails ?? 1;
    this.failTimeout = server.failTimeout ?? 10_000;
    this.backup = server.backup ?? false;
  }

  /** The one question the rest of the proxy asks: may a request go here now? */
  available(now: number = Date.now()): boolean {
    return this.healthy && !this.draining && now >= this.downUntil;
  }

  /**
   * nginx's max_fails/fail_timeout: max_fails failures within fail_timeout take the server out
   * for fail_timeout. max_fails 0 turns passive health off for this server.
   */
  recordFailure(now: number = Date.now()): void {
    this.failures++;
    if (this.maxFails === 0) return;
    if (this.downUntil !== 0) {
      // Out, or back but not yet proven: like nginx (whose failure count is not reset until a
      // success), one more failure is enough to send it out again.
      this.downUntil = now + this.failTimeout;
      return;
    }
    if (this.recentFails === 0 || now - this.windowStart > this.failTimeout) {
      this.windowStart = now;
      this.recentFails = 0;
    }
    this.recentFails++;
    if (this.recentFails >= this.maxFails) {
      this.downUntil = now + this.failTimeout;
      this.recentFails = 0;
    }
  }

  /**
   * Successes between failures do not forgive them: nginx counts max_fails within fail_timeout
   * whatever succeeded in between, so a flapping server still goes out. A success after the time
   * out ends the probation.
   */
  recordSuccess(now: number = Date.now()): void {
    if (this.downUntil !== 0 && now >= this.downUntil) this.downUntil = 0;
  }
}
