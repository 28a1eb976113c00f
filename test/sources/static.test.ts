import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerConfig } from '../../config/index.js';
import { createStaticSource } from '../../proxy/sources/static.js';
import { serverConfig } from '../helpers/pool.js';

test('the static source delivers the config servers once, synchronously, as a frozen snapshot', () => {
  const servers = [serverConfig('127.0.0.1:8001'), serverConfig('127.0.0.1:8002')];
  const source = createStaticSource(servers);
  const snapshots: Array<readonly ServerConfig[]> = [];
  source.start((snapshot) => snapshots.push(snapshot));
  source.stop();
  assert.equal(snapshots.length, 1);
  assert.deepEqual(snapshots[0], servers);
  assert.ok(Object.isFrozen(snapshots[0]));
});
