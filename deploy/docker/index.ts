export { type BuildOptions, buildFromContext, buildImage } from './build.js';
export { listContextFiles } from './context.js';
export {
  createDeployer,
  type Deployer,
  type DeployerOptions,
  type RolloutOptions,
  type ScaleOptions,
  type UpOptions,
} from './deployer.js';
export { type ContainerDetails, type ContainerInfo, createEngine, type Engine } from './engine.js';
export { DeployError, type DeployErrorCode } from './errors.js';
export { socketGroup } from './socket.js';
export { CONTAINER_SOCKET, type StackConfig, stackConfig } from './stack-config.js';
export { formatTable, type StatusRow, statusRows } from './status.js';
export { tarFile } from './tar-file.js';
