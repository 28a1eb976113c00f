import { connect, type Socket, type TcpNetConnectOpts } from 'node:net';
import type { buildConnector } from 'undici';
import { ProxyError } from './errors.js';

/**
 * Opens the TCP connection to an upstream for undici, with `timeouts.connect` on a timer of ours:
 * undici's own connector runs it on a timer that ticks every 500 ms, so a 2 s timeout fired after
 * 2.5–3 s. Socket settings as undici's connector makes them: no Nagle delay, TCP keep-alive probes
 * after 60 s idle, 64 KiB reads.
 */
export function connectUpstream(
  target: buildConnector.Options,
  timeout: number,
  callback: buildConnector.Callback,
): void {
  // highWaterMark reaches the socket's streams (Node passes its options on), though not in its types.
  const options: TcpNetConnectOpts & { highWaterMark: number } = {
    host: target.hostname,
    port: Number(target.port) || 80,
    highWaterMark: 64 * 1024,
    noDelay: true,
    keepAlive: true,
    keepAliveInitialDelay: 60_000,
  };
  const socket: Socket = connect(options);
  let done = false;
  const timer =
    timeout > 0
      ? setTimeout(
          () => socket.destroy(new ProxyError('GH_ERR_UPSTREAM_CONNECT_TIMEOUT', 'upstream connect timeout')),
          timeout,
        )
      : null;
  const settle = (err: Error | null) => {
    if (done) return;
    done = true;
    if (timer) clearTimeout(timer);
    if (err) callback(err, null);
    else callback(null, socket);
  };
  socket.once('connect', () => settle(null));
  // Stays on once connected (a no-op then): undici adds its own.
  socket.on('error', settle);
}
