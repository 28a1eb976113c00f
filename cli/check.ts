import type { Command } from 'commander';
import { formatAddress } from '../config/index.js';
import { loadConfigOrExit } from './load-or-exit.js';

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('validate a config file and print every problem with its key (exit 1), like nginx -t')
    .option('-c, --config <file>', 'config file (default: $GATEHOUSE_CONFIG or the embedded default)')
    .action((opts: { config?: string }) => {
      const config = loadConfigOrExit(opts.config);
      const pool = config.upstream.resolve
        ? `${config.upstream.resolve.host}:${config.upstream.resolve.port} (re-resolved)`
        : config.upstream.servers.map((s) => s.address).join(', ');
      console.log(`${config.source ?? 'default config'}: ok`);
      console.log(`  listen ${formatAddress(config.listen)}, status ${formatAddress(config.status.listen)}`);
      console.log(`  upstream ${config.upstream.balance}: ${pool}`);
    });
}
