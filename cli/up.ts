import { resolve } from 'node:path';
import type { Command } from 'commander';
import { stackPm2Home } from '../deploy/pm2/daemon.js';
import type { EcosystemProfile } from '../deploy/pm2/ecosystem.js';
import { runDown, runUp, UpError } from '../deploy/pm2/up.js';
import { loadConfigOrExit } from './load-or-exit.js';

/** `gatehouse up` (the stack in the foreground, what `npm start` runs) and `gatehouse down`. */
export function registerUp(program: Command): void {
  program
    .command('up')
    .description(
      'run the whole stack (workers + proxy) under a pm2 of its own, in the foreground; Ctrl-C stops it all',
    )
    .option('-c, --config <file>', 'config file (default: $GATEHOUSE_CONFIG or the embedded default)')
    .option(
      '--env <profile>',
      'production, or development (workers restart one by one on code changes)',
      'production',
    )
    .option('--pm2-home <dir>', "this stack's own PM2_HOME", stackPm2Home)
    .action(async (opts: { config?: string; env: string; pm2Home: string }) => {
      if (opts.env !== 'production' && opts.env !== 'development') {
        console.error(`gatehouse up: --env must be production or development, got "${opts.env}"`);
        process.exit(1);
      }
      const config = loadConfigOrExit(opts.config);
      try {
        process.exitCode = await runUp({
          config,
          configFile: opts.config ? resolve(opts.config) : null,
          profile: opts.env as EcosystemProfile,
          pm2Home: resolve(opts.pm2Home),
        });
      } catch (err) {
        if (!(err instanceof UpError)) throw err;
        console.error(`gatehouse up: ${err.message}`);
        process.exitCode = 1;
      }
    });
  program
    .command('down')
    .description('stop a stack `gatehouse up` left running (its terminal was closed without Ctrl-C)')
    .option('--pm2-home <dir>', "the stack's PM2_HOME", stackPm2Home)
    .action(async (opts: { pm2Home: string }) => {
      process.exitCode = await runDown(resolve(opts.pm2Home));
    });
}
