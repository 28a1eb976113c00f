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
export { CONTAINER_SOCKET, type Discovery, type StackConfig, stackConfig } from './stack-config.js';
export { formatTable, type StatusRow, statusRows } from './status.js';
export { createSwarmDeployer, type SwarmDeployerOptions } from './swarm.js';
export { createSwarmEngine, type ServiceSpec, type SwarmEngine, type TaskInfo } from './swarm-engine.js';
export { proxyServiceSpec, serviceName, swarmNetworkName, workerServiceSpec } from './swarm-specs.js';
export { tarFile } from './tar-file.js';
