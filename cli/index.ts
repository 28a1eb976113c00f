import { Command } from 'commander';
import { registerCheck } from './check.js';
import { registerDeploy } from './deploy.js';
import { registerNginx } from './nginx.js';
import { registerProxy } from './proxy.js';
import { registerSchema } from './schema.js';
import { registerStatus } from './status.js';
import { registerUp } from './up.js';
import { registerWorker } from './worker.js';

// Entry point only: parse flags, call library functions. Importing anything else starts nothing.
const program = new Command('gatehouse')
  .description('nginx + gunicorn + WSGI, rebuilt in TypeScript')
  .showHelpAfterError()
  .enablePositionalOptions();

registerWorker(program);
registerCheck(program);
registerProxy(program);
registerNginx(program);
registerSchema(program);
registerUp(program);
registerStatus(program);
registerDeploy(program);

await program.parseAsync(process.argv);
