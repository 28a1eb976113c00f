import type { AcmeConfig } from '../../../config/index.js';
import type { Logger } from '../../../process/logger.js';
import type { ProxyServer } from '../../server.js';
import { AcmeManager } from './manager.js';

/**
 * tls.acme in a proxy process: the plain listener answers HTTP-01 challenges from the manager,
 * and every certificate it hands over (stored, ordered, renewed, or written by another process
 * of the cluster — the lock in storage makes one of them order) goes into the TLS listener.
 * Started after the listeners are up: pebble or Let's Encrypt validates against them.
 */
export function attachAcme(proxy: ProxyServer, config: AcmeConfig, logger: Logger): AcmeManager {
  const manager = new AcmeManager(config, {
    logger,
    onCertificate: (pair) => {
      try {
        proxy.tls?.putCertificate(pair);
      } catch (err) {
        // A pair that cannot be read is logged by the store; the one in service stays.
        logger.error({ err, cert: pair.cert }, 'acme: certificate not put into service');
      }
    },
  });
  proxy.setChallengeResponder((token) => manager.challengeAnswer(token));
  return manager;
}
