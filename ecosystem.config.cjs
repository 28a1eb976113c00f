// The pm2 ecosystem of gatehouse, derived from the config file ($GATEHOUSE_CONFIG, else the embedded
// config/default.yaml): worker count, ports, grace periods and memory limit are read from there, never
// copied here. The apps themselves are built by dist/deploy/pm2/ecosystem.js (deploy/pm2/ecosystem.ts).
//
//   pm2 start ecosystem.config.cjs                    the stack (production profile)
//   pm2 start ecosystem.config.cjs --env development  NODE_ENV=development: tsc --watch (gatehouse-tsc),
//                                                     workers restart on changes, open pages reload
//   pm2 reload gatehouse-worker | gatehouse-proxy     rolling reload, no request lost
//   pm2 reload gatehouse-worker-<route>               a route's own workers (routes[].workers), the same way
//
// Why CommonJS and a synchronous load: pm2 require()s ecosystem files and uses what they export right
// away (it does not await a Promise), and the config loader is an ES module. Node 20.19+, 22.12+ and 24
// can require() an ES module without top-level await, which the loader has none of; older Node throws
// ERR_REQUIRE_ESM, and then the same function runs in a child Node process that prints the apps as
// JSON (slower by one Node start, same result).
'use strict';

const { execFileSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const entry = join(__dirname, 'dist', 'deploy', 'pm2', 'ecosystem.js');

function load() {
  if (!existsSync(entry)) {
    throw new Error(`gatehouse: ${entry} is missing; build first with \`npm run build\``);
  }
  try {
    return require(entry).ecosystemFromConfig(process.argv);
  } catch (err) {
    if (err.code !== 'ERR_REQUIRE_ESM' && err.code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
  }
  const script = `import(${JSON.stringify(pathToFileURL(entry).href)}).then((m) => {
    process.stdout.write(JSON.stringify(m.ecosystemFromConfig(JSON.parse(process.argv[1]))));
  }).catch((err) => { console.error(err.message); process.exit(1); });`;
  const json = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', script, JSON.stringify(process.argv)],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return JSON.parse(json);
}

module.exports = load();
