import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { registerDeploy } from '../../cli/deploy.js';

// The command line of the deployer, parsed without running anything (no Docker needed).

function program(): Command {
  const root = new Command('gatehouse').exitOverride().enablePositionalOptions();
  registerDeploy(root);
  for (const command of root.commands) {
    command.exitOverride();
    for (const sub of command.commands)
      sub.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  }
  return root;
}

function sub(name: string): Command {
  const deploy = program().commands.find((c) => c.name() === 'deploy')!;
  return deploy.commands.find((c) => c.name() === name)!;
}

describe('gatehouse deploy command line', () => {
  test('offers build, up, scale, rollout, status and down', () => {
    const deploy = program().commands.find((c) => c.name() === 'deploy');
    assert.deepEqual(
      deploy?.commands.map((c) => c.name()),
      ['build', 'up', 'scale', 'rollout', 'status', 'down'],
    );
  });

  test('every stack command takes --stack (default gatehouse), --image (default gatehouse:latest) and --config', () => {
    for (const name of ['up', 'scale', 'rollout', 'status', 'down']) {
      const options = Object.fromEntries(sub(name).options.map((o) => [o.long, o.defaultValue]));
      assert.equal(options['--stack'], 'gatehouse', name);
      assert.equal(options['--image'], 'gatehouse:latest', name);
      assert.ok('--config' in options, name);
    }
  });

  test('up publishes on 127.0.0.1:8080 with 2 workers unless told otherwise', () => {
    const options = Object.fromEntries(sub('up').options.map((o) => [o.long, o.defaultValue]));
    assert.equal(options['--workers'], 2);
    assert.equal(options['--port'], 8080);
    assert.equal(options['--bind'], '127.0.0.1');
    assert.equal(options['--socket'], '/var/run/docker.sock');
  });

  test('refuses a worker count or port that is not a number before touching Docker', async () => {
    await assert.rejects(program().parseAsync(['deploy', 'scale', 'three'], { from: 'user' }), {
      code: 'commander.invalidArgument',
    });
    await assert.rejects(program().parseAsync(['deploy', 'up', '--port', '70000'], { from: 'user' }), {
      code: 'commander.invalidArgument',
    });
    await assert.rejects(program().parseAsync(['deploy', 'up', '--workers', '-1'], { from: 'user' }), {
      code: 'commander.invalidArgument',
    });
  });
});
