import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to dist/config/paths.js; assets (views, the default config) stay at the package
// root and are read from there, so the build copies nothing.
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const defaultConfigFile = resolve(packageRoot, 'config', 'default.yaml');
