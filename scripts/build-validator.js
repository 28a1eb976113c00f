#!/usr/bin/env node
// The last step of `npm run build`, after tsc: writes dist/config/validate-config.cjs, the config
// schema's validator as code, so that a process start does not compile the schema again (see
// config/validator.ts, which falls back to compiling when this file is missing or stale).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'dist', 'config');
const { PREBUILT_FILE, prebuiltSource } = await import(pathToFileURL(join(dir, 'validator.js')).href);
writeFileSync(join(dir, PREBUILT_FILE), prebuiltSource());
