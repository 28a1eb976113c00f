import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import Docker from 'dockerode';
import { ConfigError, packageRoot } from '../config/index.js';
import {
  buildImage,
  CONTAINER_SOCKET,
  createDeployer,
  createEngine,
  createSwarmDeployer,
  createSwarmEngine,
  DeployError,
  formatTable,
  socketGroup,
  stackConfig,
} from '../deploy/docker/index.js';

interface StackOptions {
  stack: string;
  image: string;
  config?: string;
  swarm?: boolean;
}

const DEFAULT_IMAGE = 'gatehouse:latest';

export function registerDeploy(program: Command): void {
  const deploy = program
    .command('deploy')
    .description(
      'run the stack on a Docker engine: build, up, scale, rollout, status, down (labels gatehouse.stack=NAME); --swarm: as Swarm services',
    );

  deploy
    .command('build')
    .description('build the image from the repository (the Dockerfile and .dockerignore at its root)')
    .option('--image <tag>', 'tag of the image', DEFAULT_IMAGE)
    .option(
      '--node-version <version>',
      'Node.js major version of the base image (build argument NODE_VERSION)',
    )
    .option('--context <dir>', 'directory holding the Dockerfile', packageRoot)
    .action((opts: { image: string; nodeVersion?: string; context: string }) =>
      run(async () => {
        const { id } = await buildImage(createEngine(), {
          context: opts.context,
          tag: opts.image,
          ...(opts.nodeVersion ? { nodeVersion: opts.nodeVersion } : {}),
          onProgress: (line) => console.log(line),
        });
        console.log(`built ${opts.image} (${id})`);
      }),
    );

  stackCommand(deploy.command('up'))
    .description('create the network, N workers and the proxy published on --bind:--port (idempotent)')
    .option('-w, --workers <n>', 'number of workers', count, 2)
    .option('--port <port>', 'host port the proxy is published on', port, 8080)
    .option(
      '--bind <address>',
      'host address the proxy is published on (not with --swarm: Swarm publishes on every interface)',
      '127.0.0.1',
    )
    .option(
      '--socket <path>',
      'engine socket on the engine host, mounted read-only into the proxy',
      CONTAINER_SOCKET,
    )
    .action(
      (
        opts: StackOptions & { workers: number; port: number; bind: string; socket: string },
        command: Command,
      ) =>
        run(async () => {
          if (opts.swarm && command.getOptionValueSource('bind') === 'cli') {
            throw new DeployError(
              'GH_ERR_DEPLOY_CONFLICT',
              '--bind cannot be used with --swarm: Swarm publishes host-mode ports on every interface of the node',
            );
          }
          const { url } = await deployer(opts).up({
            image: opts.image,
            workers: opts.workers,
            config: loadStackConfig(opts),
            bind: opts.bind,
            port: opts.port,
            socket: opts.socket,
            socketGid: socketGroup(opts.socket),
          });
          console.log(`stack ${opts.stack} is up: ${url}`);
        }),
    );

  stackCommand(deploy.command('scale'))
    .description('run N workers: new ones join the pool once healthy, surplus ones drain and stop')
    .argument('<workers>', 'number of workers', count)
    .action((workers: number, opts: StackOptions, command: Command) =>
      run(async () => {
        const image = command.getOptionValueSource('image') === 'cli' ? opts.image : undefined;
        const result = await deployer(opts).scale({
          workers,
          config: loadStackConfig(opts),
          ...(image ? { image } : {}),
        });
        console.log(
          `stack ${opts.stack}: ${workers} workers (${result.started} started, ${result.stopped} stopped)`,
        );
      }),
    );

  stackCommand(deploy.command('rollout'))
    .description(
      'replace every worker with one from --image: start new, wait healthy, then drain and stop old',
    )
    .option('--settle <ms>', 'pause between new workers healthy and old ones stopped', count, 2000)
    .action((opts: StackOptions & { settle: number }) =>
      run(async () => {
        const result = await deployer(opts, opts.settle).rollout({
          image: opts.image,
          config: loadStackConfig(opts),
        });
        console.log(`stack ${opts.stack}: rolled out ${opts.image} (${result.started} workers replaced)`);
      }),
    );

  stackCommand(deploy.command('status'))
    .description("list the stack's containers")
    .action((opts: StackOptions) =>
      run(async () => {
        const rows = await deployer(opts).status();
        console.log(rows.length === 0 ? `stack ${opts.stack}: no containers` : formatTable(rows));
      }),
    );

  stackCommand(deploy.command('down'))
    .description('stop (draining) and remove every container and network of the stack')
    .action((opts: StackOptions) =>
      run(async () => {
        const { containers, networks } = await deployer(opts).down();
        console.log(`stack ${opts.stack}: removed ${containers} containers, ${networks} networks`);
      }),
    );
}

function stackCommand(command: Command): Command {
  return command
    .option('--stack <name>', 'stack name (label gatehouse.stack)', 'gatehouse')
    .option('--image <tag>', 'image of new containers', DEFAULT_IMAGE)
    .option(
      '-c, --config <file>',
      'gatehouse config for the stack (container addresses and discovery are set by the deployer)',
    )
    .option(
      '--swarm',
      'as Docker Swarm services (<stack>_app, <stack>_proxy, like docker stack deploy) on this swarm manager',
    );
}

function deployer(opts: StackOptions, settle?: number) {
  if (opts.swarm) {
    return createSwarmDeployer({
      swarm: createSwarmEngine(new Docker()),
      stack: opts.stack,
      out: (line) => console.log(line),
    });
  }
  return createDeployer({
    engine: createEngine(),
    stack: opts.stack,
    out: (line) => console.log(line),
    ...(settle === undefined ? {} : { settle }),
  });
}

function loadStackConfig(opts: StackOptions) {
  const discovery = opts.swarm ? 'swarm' : 'docker';
  if (!opts.config) return stackConfig(opts.stack, null, 'the default config', discovery);
  let text: string;
  try {
    text = readFileSync(opts.config, 'utf8');
  } catch (error) {
    const problem = { path: '', message: `cannot read the file (${(error as NodeJS.ErrnoException).code})` };
    throw new ConfigError(opts.config, [problem]);
  }
  return stackConfig(opts.stack, text, opts.config, discovery);
}

async function run(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (error instanceof DeployError || error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

function port(value: string): number {
  const n = count(value);
  if (n < 1 || n > 65535) throw new InvalidArgumentError('expected a port from 1 to 65535');
  return n;
}
