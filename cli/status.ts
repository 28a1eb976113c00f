import { resolve } from 'node:path';
import type { Command } from 'commander';
import { collectStatus, renderStatus } from '../deploy/pm2/status.js';
import { loadConfigOrExit } from './load-or-exit.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("each worker as pm2 sees it (state, pid, restarts, memory, uptime) next to the proxy's view")
    .option('-c, --config <file>', 'config file (default: $GATEHOUSE_CONFIG or the embedded default)')
    .option(
      '--pm2-home <dir>',
      "the pm2 to ask (default: gatehouse up's if it runs, else $PM2_HOME or ~/.pm2)",
    )
    .option('--json', 'print the joined data as JSON')
    .action(async (opts: { config?: string; pm2Home?: string; json?: boolean }) => {
      const config = loadConfigOrExit(opts.config);
      const status = await collectStatus({ config, pm2Home: opts.pm2Home ? resolve(opts.pm2Home) : null });
      process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
    });
}
