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
      'production, or development (compiles on save, workers restart one by one, open pages reload)',
      'production',
    )
    .option('--pm2-home <dir>', "this stack's own PM2_HOME", stackPm2Home())
    .option('--no-build', 'do not compile first, even when a source is newer than dist/')
    .action(async (opts: { config?: string; env: string; pm2Home: string; build: boolean }) => {
      if (opts.env !== 'production' && opts.env !== 'development') {
        console.error(`gatehouse up: --env must be production or development, got "${opts.env}"`);
        process.exit(1);
      }
      const config = loadConfigOrExit(opts.config);
      let code: number;
      try {
        code = await runUp({
          config,
          profile: opts.env as EcosystemProfile,
          pm2Home: resolve(opts.pm2Home),
          build: opts.build,
        });
      } catch (err) {
        if (!(err instanceof UpError)) throw err;
        for (const line of err.lines) console.error(`gatehouse up: ${line}`);
        code = 1;
      }
      // pm2's client keeps sockets and timers of its own; everything of ours is stopped by now.
      process.exit(code);
    });
  program
    .command('down')
    .description('stop a stack `gatehouse up` left running (its terminal was closed without Ctrl-C)')
    .option('--pm2-home <dir>', "the stack's PM2_HOME", stackPm2Home())
    .action(async (opts: { pm2Home: string }) => {
      const code = await runDown(resolve(opts.pm2Home));
      // As for up: pm2's client would keep this process alive after its daemon is gone.
      process.exit(code);
    });
}
