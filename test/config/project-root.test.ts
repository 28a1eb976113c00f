import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { packageRoot, projectRoot } from '../../config/index.js';

describe('projectRoot: the folder gatehouse up runs the stack for', () => {
  test("in gatehouse's own checkout: the checkout, wherever the command runs", () => {
    assert.equal(projectRoot(tmpdir()), packageRoot);
  });

  test('installed in a project: the nearest folder up from the cwd with a package.json', (t) => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'gh-project-')));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const project = join(dir, 'shop');
    const installed = join(project, 'node_modules', 'gatehouse');
    mkdirSync(join(project, 'src', 'routes'), { recursive: true });
    mkdirSync(installed, { recursive: true });
    writeFileSync(join(project, 'package.json'), '{}');
    assert.equal(projectRoot(project, installed), project);
    assert.equal(projectRoot(join(project, 'src', 'routes'), installed), project, 'npm runs scripts there');
    // npx without a local install: the package sits in npx's cache, the project is still the cwd's.
    const cached = join(dir, '.npm', '_npx', 'abc', 'node_modules', 'gatehouse');
    assert.equal(projectRoot(join(project, 'src'), cached), project);
  });
});
