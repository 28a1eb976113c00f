import type { Command } from 'commander';
import { configSchema } from '../config/index.js';

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of the config file (committed as gatehouse.schema.json for editors)')
    .action(() => {
      process.stdout.write(`${JSON.stringify(configSchema, null, 2)}\n`);
    });
}
