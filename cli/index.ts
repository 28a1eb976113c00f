import { Command } from 'commander';

// Entry point only: parse flags, call library functions. Importing anything else starts nothing.
const program = new Command('gatehouse')
  .description('nginx + gunicorn + WSGI, rebuilt in TypeScript')
  .showHelpAfterError()
  .enablePositionalOptions();

type Register = (program: Command) => void;

// Which module registers which command, in the order help lists them. A process loads only the
// module of the command it runs: a worker that pm2 starts need not load the proxy, the Docker
// client and pm2 itself, which took seconds of every start on a busy machine.
const registrars: [string[], () => Promise<Register>][] = [
  [['init'], async () => (await import('./init.js')).registerInit],
  [['worker'], async () => (await import('./worker.js')).registerWorker],
  [['check'], async () => (await import('./check.js')).registerCheck],
  [['proxy'], async () => (await import('./proxy.js')).registerProxy],
  [['cert'], async () => (await import('./cert.js')).registerCert],
  [['nginx'], async () => (await import('./nginx.js')).registerNginx],
  [['schema'], async () => (await import('./schema.js')).registerSchema],
  [['up', 'down'], async () => (await import('./up.js')).registerUp],
  [['status'], async () => (await import('./status.js')).registerStatus],
  [['deploy'], async () => (await import('./deploy.js')).registerDeploy],
];

const command = process.argv[2];
const one = registrars.find(([names]) => command !== undefined && names.includes(command));
// Anything else (no command, --help, help, a typo) gets every command, for help and suggestions.
for (const [, load] of one ? [one] : registrars) (await load())(program);

await program.parseAsync(process.argv);
