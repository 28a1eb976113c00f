import { type Config, ConfigError, loadConfig } from '../config/index.js';

/** Loads the config, or prints every problem and exits 1 before anything listens (like nginx -t). */
export function loadConfigOrExit(file: string | undefined): Config {
  try {
    return loadConfig({ file: file ?? null });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}
