import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { type NginxTarget, renderNginx } from '../nginx/render.js';
import { loadConfigOrExit } from './load-or-exit.js';

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
    .action((opts: { config?: string; target: NginxTarget; out?: string }) => {
      const config = loadConfigOrExit(opts.config);
      let text: string;
      try {
        text = renderNginx(config, { target: opts.target, ...(opts.out ? { out: opts.out } : {}) });
      } catch (err) {
        console.error(`${config.source ?? 'default config'}: ${(err as Error).message}`);
        process.exit(1);
      }
      if (opts.out) writeFileSync(opts.out, text);
      else process.stdout.write(text);
    });
}
