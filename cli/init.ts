import type { Command } from 'commander';
import { CONFIG_FILE, InitError, initProject, SCRIPTS } from '../deploy/init/index.js';
import { CONTAINER_CONFIG } from '../deploy/init/render.js';
import { textTable } from '../deploy/text-table.js';

interface InitFlags {
  app?: string;
  dir: string;
  compose?: boolean;
  force?: boolean;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description(
      `set gatehouse up in an existing app's folder: a commented ${CONFIG_FILE}, npm start/stop scripts if absent, and with --compose a docker-compose.yml`,
    )
    .option(
      '-a, --app <module>',
      'module exporting the app, from the folder (default: package.json "exports" or "main", else app.js, server.js, index.js, src/…)',
    )
    .option('-d, --dir <dir>', "the app's folder", '.')
    .option(
      '--compose',
      `also write docker-compose.yml and ${CONTAINER_CONFIG}: the same stack in containers`,
    )
    .option(
      '-f, --force',
      'overwrite the files init writes when they exist (without it, init writes nothing then)',
    )
    .addHelpText(
      'after',
      `\nWrites ${CONFIG_FILE} (the app module, a worker per core, the default ports; every key commented),
adds the npm scripts start (${SCRIPTS.start}) and stop (${SCRIPTS.stop})
when package.json has none of that name, adds .pm2/ to an existing .gitignore, and prints what to run next.`,
    )
    .action((flags: InitFlags) => {
      let report: ReturnType<typeof initProject>;
      try {
        report = initProject({
          dir: flags.dir,
          app: flags.app ?? null,
          compose: flags.compose === true,
          force: flags.force === true,
        });
      } catch (err) {
        if (!(err instanceof InitError)) throw err;
        console.error(`gatehouse init: ${err.message}`);
        process.exit(1);
      }
      const say = (line: string) => console.log(`gatehouse init: ${line}`);
      say(`the app module is ${report.app.module} (${report.app.source})`);
      say(`wrote ${report.written.join(', ')} in ${report.dir}`);
      if (report.scripts === null) say('no package.json: no npm scripts added');
      else {
        const { added, kept } = report.scripts;
        if (added.length > 0) {
          say(
            `package.json: added the script${added.length > 1 ? 's' : ''} ${added.map((name) => `${name} (${SCRIPTS[name as keyof typeof SCRIPTS]})`).join(' and ')}`,
          );
        }
        for (const [name, command] of Object.entries(kept))
          say(`package.json: kept your ${name} script (${command})`);
      }
      if (report.gitignore) say('.gitignore: added .pm2/ (where gatehouse up keeps its pm2)');
      for (const warning of report.warnings) console.error(`gatehouse init: warning: ${warning}`);
      console.log(`\nNext:\n${indent(textTable(['command', 'what it does'], report.next))}`);
    });
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
