export { formatAddress, parseAddress, parseCidr } from './address.js';
export { ConfigError, type ConfigProblem, formatProblems } from './errors.js';
export {
  isLoopbackHost,
  type LoadOptions,
  loadConfig,
  managedByPm2,
  parseConfig,
  STATUS_TOKEN_VAR,
  workerEnv,
} from './load.js';
export { type ConfigDoc, mergeConfigDocs } from './merge.js';
export { defaultConfigFile, packageRoot, projectRoot } from './paths.js';
export { configSchema } from './schema.js';
export type * from './types.js';
export { formatDuration, formatSize, parseDuration, parseSize } from './units.js';
