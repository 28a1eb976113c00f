import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, type ConfigProblem, loadConfig, parseConfig, workerEnv } from '../../config/index.js';

/** A temp dir removed after the test, pass or fail. */
function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeYaml(t: { after(fn: () => void): void }, text: string): string {
  const file = join(tempDir(t), 'gatehouse.yaml');
  writeFileSync(file, text);
  return file;
}

/** The ConfigError loadConfig throws for `file`; fails the test if it loads. */
function problemsOf(file: string): { error: ConfigError; problems: readonly ConfigProblem[] } {
  try {
    loadConfig({ file, env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return { error: err, problems: err.problems };
  }
  assert.fail(`${file} loaded, expected problems`);
}

function problemAt(problems: readonly ConfigProblem[], path: string): ConfigProblem {
  const found = problems.find((p) => p.path === path);
  assert.ok(found, `no problem at ${path}; got ${JSON.stringify(problems, null, 1)}`);
  return found;
}

describe('the embedded default', () => {
  test('loads, with the documented ports and pool', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.source, null);
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(config.status.listen, { host: '127.0.0.1', port: 8081 });
    assert.deepEqual(
      config.upstream.servers.map((s) => s.address),
      ['127.0.0.1:8001', '127.0.0.1:8002'],
    );
    assert.equal(config.upstream.balance, 'round_robin');
    assert.deepEqual(config.trustedProxies, []);
    assert.deepEqual(config.retries.nextUpstream, ['error', 'timeout']);
  });

  test('resolves durations to ms and sizes to bytes', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.timeouts.connect, 5_000);
    assert.equal(config.timeouts.read, 60_000);
    assert.equal(config.upstream.keepaliveTimeout, 60_000);
    assert.equal(config.workers.keepaliveTimeout, 65_000);
    assert.equal(config.clientMaxBodySize, 1024 * 1024);
    assert.equal(config.clientMaxHeaderSize, 16 * 1024);
  });

  test('is frozen all the way down', () => {
    const config = loadConfig({ env: {} });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.upstream.servers));
    assert.ok(Object.isFrozen(config.upstream.servers[0]));
    assert.throws(() => {
      (config.timeouts as { read: number }).read = 1;
    }, TypeError);
  });
});

describe('a file', () => {
  test('is merged over the default key by key; arrays replace', (t) => {
    const file = writeYaml(
      t,
      [
        'timeouts:',
        '  read: 2s',
        'upstream:',
        '  servers:',
        '    - address: 127.0.0.1:9001',
        '      weight: 3',
        '      backup: false',
        '    - { address: "[::1]:9002", max_fails: 0, fail_timeout: 500ms }',
        'client_max_body_size: 50m',
        'trusted_proxies: [10.0.0.0/8, "::1"]',
      ].join('\n'),
    );
    const config = loadConfig({ file, env: {} });
    assert.equal(config.source, file);
    assert.equal(config.timeouts.read, 2000);
    assert.equal(config.timeouts.connect, 5000, 'untouched keys keep the default');
    assert.equal(config.clientMaxBodySize, 50 * 1024 * 1024);
    assert.deepEqual(config.trustedProxies, ['10.0.0.0/8', '::1']);
    const [a, b] = config.upstream.servers;
    assert.deepEqual(
      { ...a },
      {
        address: '127.0.0.1:9001',
        host: '127.0.0.1',
        port: 9001,
        weight: 3,
        maxFails: 1,
        failTimeout: 10_000,
        backup: false,
      },
    );
    assert.deepEqual(
      { ...b },
      {
        address: '[::1]:9002',
        host: '::1',
        port: 9002,
        weight: 1,
        maxFails: 0,
        failTimeout: 500,
        backup: false,
      },
    );
  });

  test('that is empty is the default', (t) => {
    const config = loadConfig({ file: writeYaml(t, '# nothing here\n'), env: {} });
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8080 });
  });

  test('is found through GATEHOUSE_CONFIG when no file is given', (t) => {
    const file = writeYaml(t, 'listen: 127.0.0.1:9999\n');
    const config = loadConfig({ env: { GATEHOUSE_CONFIG: file } });
    assert.equal(config.source, file);
    assert.equal(config.listen.port, 9999);
  });

  test('given explicitly wins over GATEHOUSE_CONFIG', (t) => {
    const file = writeYaml(t, 'listen: 127.0.0.1:9999\n');
    const other = writeYaml(t, 'listen: 127.0.0.1:9998\n');
    assert.equal(loadConfig({ file, env: { GATEHOUSE_CONFIG: other } }).listen.port, 9999);
  });

  test('that is missing is one problem naming the file and the reason', (t) => {
    const missing = join(tempDir(t), 'nope.yaml');
    const { error, problems } = problemsOf(missing);
    assert.equal(error.code, 'GH_ERR_CONFIG');
    assert.equal(error.file, missing);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /cannot read the file \(ENOENT\)/);
    assert.match(error.message, new RegExp(`^${missing}: 1 problem\\n`));
  });

  test('with a YAML syntax error is reported as such, with the file', (t) => {
    const file = writeYaml(t, 'listen: [127.0.0.1:8080\nupstream:\n  balance: round_robin\n');
    const { error, problems } = problemsOf(file);
    assert.ok(problems.length >= 1);
    assert.match(problems[0]!.message, /^YAML: /);
    assert.ok(error.message.includes(file));
  });

  test('that is not a mapping at the top is rejected', (t) => {
    const { problems } = problemsOf(writeYaml(t, '- listen\n- 8080\n'));
    assert.ok(problems.length >= 1);
  });
});

describe('every problem of a bad file is listed, each with its key path and what was expected', () => {
  const BAD = [
    'listen: nonsense',
    'colour: blue',
    'upstream:',
    '  balance: fastest',
    '  servers:',
    '    - address: 127.0.0.1:99999',
    '    - address: 127.0.0.1:8001',
    '      wieght: 2',
    '  resolve: { host: app, port: 3000 }',
    '  keepalive_timeout: 90s',
    'timeouts:',
    '  read: ten seconds',
    'client_max_body_size: 1 mb',
    'trusted_proxies: [10.0.0.0/33, not-a-cidr]',
    'workers:',
    '  keepalive_timeout: 30s',
    'log_level: verbose',
  ].join('\n');

  const expected: Array<[string, RegExp]> = [
    ['colour', /unknown key/],
    ['upstream.servers.1.wieght', /unknown key/],
    ['upstream.balance', /expected one of round_robin, least_conn, ip_hash, random, got "fastest"/],
    ['log_level', /expected one of fatal, error, warn, info, debug, got "verbose"/],
    ['timeouts.read', /expected a duration such as "60s".*got "ten seconds"/],
    ['client_max_body_size', /expected a size such as "1m".*got "1 mb"/],
    ['listen', /expected an address "host:port", got "nonsense"/],
    ['upstream.servers.0.address', /expected an address "host:port", got "127\.0\.0\.1:99999"/],
    ['trusted_proxies.0', /expected a CIDR .*got "10\.0\.0\.0\/33"/],
    ['trusted_proxies.1', /expected a CIDR .*got "not-a-cidr"/],
    ['upstream', /give one of upstream\.servers, upstream\.resolve or upstream\.docker/],
    ['workers.keepalive_timeout', /must be longer than upstream\.keepalive_timeout \(90000 ms\)/],
  ];

  for (const [path, message] of expected) {
    test(`${path}: ${message.source}`, (t) => {
      const { problems } = problemsOf(writeYaml(t, BAD));
      assert.match(problemAt(problems, path).message, message);
    });
  }

  test('all of them in one error, one message line per problem with the file name', (t) => {
    const file = writeYaml(t, BAD);
    const { error, problems } = problemsOf(file);
    assert.equal(problems.length, expected.length, JSON.stringify(problems, null, 1));
    const lines = error.message.split('\n');
    assert.equal(lines[0], `${file}: ${expected.length} problems`);
    for (const [path] of expected)
      assert.ok(
        lines.some((l) => l.startsWith(`  ${file}: ${path}: `)),
        path,
      );
  });
});

describe('single rules', () => {
  function problems(t: { after(fn: () => void): void }, yaml: string): readonly ConfigProblem[] {
    return problemsOf(writeYaml(t, yaml)).problems;
  }

  test('workers.keepalive_timeout equal to upstream.keepalive_timeout is rejected (must be longer)', (t) => {
    const found = problems(t, 'workers: { keepalive_timeout: 60s }\nupstream: { keepalive_timeout: 60s }\n');
    assert.match(problemAt(found, 'workers.keepalive_timeout').message, /must be longer/);
  });

  test('upstream.servers and upstream.resolve together are rejected', (t) => {
    const found = problems(
      t,
      'upstream:\n  servers: [{ address: "127.0.0.1:9001" }]\n  resolve: { host: app, port: 3000 }\n',
    );
    assert.equal(found.length, 1);
    assert.equal(found[0]!.path, 'upstream');
  });

  test('upstream.resolve alone gives an empty static pool and the re-resolve settings', (t) => {
    const config = loadConfig({
      file: writeYaml(t, 'upstream:\n  resolve: { host: app, port: 3000, interval: 2s }\n'),
      env: {},
    });
    assert.deepEqual(config.upstream.servers, []);
    assert.deepEqual({ ...config.upstream.resolve }, { host: 'app', port: 3000, interval: 2000 });
  });

  test('health timeout not shorter than its interval is rejected', (t) => {
    const found = problems(t, 'upstream: { health: { interval: 1s, timeout: 1s } }\n');
    assert.match(
      problemAt(found, 'upstream.health.timeout').message,
      /shorter than upstream\.health\.interval/,
    );
  });

  test('a pool of backups only is rejected', (t) => {
    const found = problems(t, 'upstream: { servers: [{ address: "127.0.0.1:9001", backup: true }] }\n');
    assert.match(problemAt(found, 'upstream.servers').message, /at least one server must not be a backup/);
  });

  test('backup servers with ip_hash are rejected (as nginx)', (t) => {
    const found = problems(
      t,
      'upstream:\n  balance: ip_hash\n  servers: [{ address: "127.0.0.1:9001" }, { address: "127.0.0.1:9002", backup: true }]\n',
    );
    assert.match(
      problemAt(found, 'upstream.balance').message,
      /backup servers work with round_robin and least_conn/,
    );
  });

  test('the status listener on the listen address is rejected', (t) => {
    const found = problems(t, 'listen: 127.0.0.1:9000\nstatus: { listen: 127.0.0.1:9000 }\n');
    assert.match(problemAt(found, 'status.listen').message, /must differ from listen/);
  });

  test('a server address with port 0 or without a port is rejected', (t) => {
    const found = problems(
      t,
      'upstream: { servers: [{ address: "127.0.0.1:0" }, { address: "127.0.0.1" }, { address: "::1:80" }] }\n',
    );
    for (const i of [0, 1, 2])
      assert.match(problemAt(found, `upstream.servers.${i}.address`).message, /host:port/);
  });

  test('a negative duration and a fractional size are rejected', (t) => {
    const found = problems(t, 'timeouts: { connect: -5 }\nclient_max_header_size: 1.5\n');
    assert.match(problemAt(found, 'timeouts.connect').message, /expected a duration/);
    assert.match(problemAt(found, 'client_max_header_size').message, /expected a size/);
  });

  test('an unknown next_upstream condition is rejected', (t) => {
    const found = problems(t, 'retries: { next_upstream: [error, http_500] }\n');
    assert.ok(
      found.some((p) => p.path.startsWith('retries.next_upstream')),
      JSON.stringify(found),
    );
  });

  test('a string where a number belongs is rejected with the key', (t) => {
    const found = problems(t, 'instances: two\n');
    assert.match(problemAt(found, 'instances').message, /got "two"/);
  });
});

describe('parseConfig', () => {
  test('labels problems of a document with no file as the default config', () => {
    assert.throws(
      () => parseConfig({ listen: 'nonsense' }, null),
      (err: unknown) => err instanceof ConfigError && err.file === 'default config',
    );
  });
});

describe('workerEnv', () => {
  const config = loadConfig({ env: {} });

  test('without environment: the first worker port on the workers host', () => {
    assert.deepEqual(workerEnv(config, {}), { host: '127.0.0.1', port: 8001, instance: 0 });
  });

  test('PORT and HOST win', () => {
    assert.deepEqual(workerEnv(config, { PORT: '3000', HOST: '0.0.0.0' }), {
      host: '0.0.0.0',
      port: 3000,
      instance: 0,
    });
  });

  test('PORT=0 asks for any free port', () => {
    assert.equal(workerEnv(config, { PORT: '0' }).port, 0);
  });

  test('NODE_APP_INSTANCE (pm2) offsets the port from workers.port', () => {
    assert.deepEqual(workerEnv(config, { NODE_APP_INSTANCE: '1' }), {
      host: '127.0.0.1',
      port: 8002,
      instance: 1,
    });
  });

  test('under the pm2 ecosystem: GATEHOUSE_WORKER_PORT_BASE + NODE_APP_INSTANCE, whatever PORT the shell had', () => {
    const env = { GATEHOUSE_WORKER_PORT_BASE: '9100', NODE_APP_INSTANCE: '3', PORT: '3000' };
    assert.deepEqual(workerEnv(config, env), { host: '127.0.0.1', port: 9103, instance: 3 });
    assert.throws(
      () => workerEnv(config, { GATEHOUSE_WORKER_PORT_BASE: 'x', NODE_APP_INSTANCE: '0' }),
      (err: unknown) => err instanceof ConfigError && err.problems[0]!.path === 'GATEHOUSE_WORKER_PORT_BASE',
    );
    assert.throws(
      () => workerEnv(config, { GATEHOUSE_WORKER_PORT_BASE: '65535', NODE_APP_INSTANCE: '1' }),
      (err: unknown) => err instanceof ConfigError && /65536/.test(err.message),
    );
  });

  test('a PORT that is not a port number is a ConfigError naming PORT', () => {
    for (const bad of ['http', '70000', '-1', '80.5']) {
      assert.throws(
        () => workerEnv(config, { PORT: bad }),
        (err: unknown) =>
          err instanceof ConfigError && err.problems.length === 1 && err.problems[0]!.path === 'PORT',
        bad,
      );
    }
  });
});
