import type { Command } from 'commander';
import { runWorker } from '../app/run-worker.js';
import { loadConfigOrExit } from './load-or-exit.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('serve an app on one port (PORT, HOST from the environment), like a gunicorn worker')
    .option('-c, --config <file>', 'config file (default: $GATEHOUSE_CONFIG or the embedded default)')
    .option(
      '-a, --app <module>',
      'module exporting the app: .js, or .ts where Node strips types (Node 24) (default: the sample site)',
    )
    .action(async (opts: { config?: string; app?: string }) => {
      await runWorker({ config: loadConfigOrExit(opts.config), appModule: opts.app ?? null });
    });
}
