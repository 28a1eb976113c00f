import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { type Address, type Config, parseAddress } from '../config/index.js';
import { installedNginxVersion } from '../nginx/nginx-version.js';
import { type NginxTarget, renderNginx } from '../nginx/render.js';
import { loadConfigOrExit } from './load-or-exit.js';

interface NginxOptions {
  config?: string;
  target: NginxTarget;
  out?: string;
  fromPm2?: boolean;
  pm2Home?: string;
  nginxVersion?: string;
  acmeResponder?: string;
}

export function registerNginx(program: Command): void {
  program
    .command('nginx')
    .description('print the nginx config rendered from the config file, to put real nginx in front instead')
    .option('-c, --config <file>', 'config file (default: $GATEHOUSE_CONFIG or the embedded default)')
    .addOption(
      new Option(
        '-t, --target <target>',
        'host: nginx on this host (pm2 workers); compose: the nginx container',
      )
        .choices(['host', 'compose'])
        .default('host'),
    )
    .option('-o, --out <file>', 'write the config to this file instead of stdout')
    .option(
      '--from-pm2',
      'the pool as pm2 runs it now (after pm2 scale), not workers.count from the config; host target only',
    )
    .option(
      '--pm2-home <dir>',
      "with --from-pm2: the pm2 daemon's home (default: gatehouse up's, else $PM2_HOME or ~/.pm2)",
    )
    .option(
      '--nginx-version <version>',
      "with tls: the nginx the config is for (1.25.1 and later: 'http2 on;'); default: `nginx -v` here",
    )
    .option(
      '--acme-responder <host:port>',
      'with tls.acme: where ACME HTTP-01 challenges go (a gatehouse proxy running tls.acme); default: the upstream pool',
    )
    .action(async (opts: NginxOptions) => {
      let config = loadConfigOrExit(opts.config);
      const label = config.source ?? 'default config';
      let text: string;
      try {
        if (opts.fromPm2) config = await livePoolOrExit(config, opts);
        text = renderNginx(config, {
          target: opts.target,
          ...(opts.out ? { out: opts.out } : {}),
          ...(opts.fromPm2 ? { fromPm2: true } : {}),
          ...(config.tls ? tlsOptions(opts) : {}),
        });
      } catch (err) {
        console.error(`${label}: ${(err as Error).message}`);
        process.exit(1);
      }
      if (opts.out) writeFileSync(opts.out, text);
      else process.stdout.write(text);
    });
}

/** The nginx version (told, else the one on PATH) and the ACME responder, for the TLS servers. */
function tlsOptions(opts: NginxOptions): { nginxVersion: string | null; acmeResponder: Address | null } {
  if (opts.nginxVersion !== undefined && !/^\d+\.\d+\.\d+$/.test(opts.nginxVersion))
    throw new Error(`--nginx-version ${opts.nginxVersion}: give a version such as 1.25.1`);
  let acmeResponder: Address | null = null;
  if (opts.acmeResponder !== undefined) {
    acmeResponder = parseAddress(opts.acmeResponder);
    if (!acmeResponder) throw new Error(`--acme-responder ${opts.acmeResponder}: give host:port`);
  }
  return { nginxVersion: opts.nginxVersion ?? installedNginxVersion(), acmeResponder };
}

/** The config with the pool pm2 runs now; loads pm2's client only when asked for. */
async function livePoolOrExit(config: Config, opts: NginxOptions): Promise<Config> {
  if (opts.target !== 'host') throw new Error('--from-pm2 renders the host target only (compose has no pm2)');
  const { listPm2Processes } = await import('../deploy/pm2/daemon.js');
  const { pickPm2Home } = await import('../deploy/pm2/status.js');
  const { withLivePool } = await import('../deploy/pm2/live-pool.js');
  const home = pickPm2Home(opts.pm2Home);
  const processes = await listPm2Processes(home);
  if (processes === null) throw new Error(`--from-pm2: no pm2 daemon runs at ${home}`);
  return withLivePool(config, processes);
}
