import type { Command } from 'commander';
import { managedByPm2 } from '../config/index.js';
import { loadConfigOrExit } from './load-or-exit.js';

export function registerProxy(program: Command): void {
  program
    .command('proxy')
    .description('run the reverse proxy (nginx proxy_pass + upstream); SIGHUP reloads, SIGTERM drains')
    .option('-c, --config <file>', 'config file (default: $GATEHOUSE_CONFIG or the embedded default)')
    .action(async (opts: { config?: string }) => {
      const config = loadConfigOrExit(opts.config);
      const cluster = !managedByPm2();
      // A cluster's primary serves nothing: it loads only its own module, not the request path,
      // so that the start of `instances` processes costs the CPU of those that serve.
      const { isClusterPrimary, runPrimary } = await import('../proxy/run-primary.js');
      if (isClusterPrimary(config, cluster)) return runPrimary(config);
      const { runProxy } = await import('../proxy/index.js');
      await runProxy({ config, configFile: opts.config ?? config.source, cluster });
    });
}
