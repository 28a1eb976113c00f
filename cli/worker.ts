import type { Command } from 'commander';
import { runWorker } from '../app/run-worker.js';
import type { Config } from '../config/index.js';
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
    .option(
      '-r, --route <name>',
      "serve the route's own workers (routes[].workers) instead of the top-level ones",
    )
    .action(async (opts: { config?: string; app?: string; route?: string }) => {
      const config = loadConfigOrExit(opts.config);
      await runWorker({
        config: opts.route === undefined ? config : routeWorkersOrExit(config, opts.route),
        appModule: opts.app ?? null,
      });
    });
}

/** The config as a route's workers see it: its `workers` and `upstream` (health path) in place of the top level's. */
function routeWorkersOrExit(config: Config, name: string): Config {
  const route = config.routes.find((r) => r.name === name);
  const target = route?.target;
  if (target?.kind !== 'pool' || !target.localWorkers) {
    const names = config.routes
      .filter((r) => r.target.kind === 'pool' && r.target.localWorkers)
      .map((r) => r.name);
    console.error(
      `gatehouse worker: no route "${name}" with workers of its own (routes with workers: ${names.join(', ') || 'none'})`,
    );
    process.exit(1);
  }
  return { ...config, workers: target.workers, upstream: target.upstream };
}
