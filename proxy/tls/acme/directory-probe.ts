import { get as httpGet } from 'node:http';
import { type Agent, get as httpsGet } from 'node:https';
import acme from 'acme-client';

/**
 * Why the ACME directory cannot be fetched (connection refused, unknown host, untrusted
 * certificate, HTTP status), or null when it can. acme-client loses the network error of a request
 * that got no response (its retry hook reads the missing response and throws a TypeError about
 * it), so after a failure this asks the directory once more, through the same agent, for the reason.
 */
export function probeDirectory(directory: string, timeout = 10_000): Promise<string | null> {
  return new Promise((resolve) => {
    const https = directory.startsWith('https:');
    const agent = https ? (acme.axios.defaults.httpsAgent as Agent | undefined) : undefined;
    const request = (https ? httpsGet : httpGet)(directory, { agent, timeout }, (response) => {
      response.resume();
      const status = response.statusCode ?? 0;
      resolve(status >= 200 && status < 300 ? null : `the directory answered HTTP ${status}`);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeout} ms`)));
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve(`the directory is unreachable: ${error.code ?? ''} ${error.message}`.replace(/\s+/g, ' ')),
    );
  });
}
