import type { Command } from 'commander';
import { managedByPm2 } from '../config/index.js';
import { runProxy } from '../proxy/index.js';
import { loadConfigOrExit } from './load-or-exit.js';

export function registerProxy(program: Command): void {
  program
    .command('proxy')
    .description('run the reverse proxy (nginx proxy_pass + upstream); SIGHUP reloads, SIGTERM drains')
    .option('-c, --config <file>', 'config file (default: $GATEHOUSE_CONFIG or the embedded default)')
    .action(async (opts: { config?: string }) => {
      const config = loadConfigOrExit(opts.config);
      await runProxy({ config, configFile: opts.config ?? config.source, cluster: !managedByPm2() });
    });
}
