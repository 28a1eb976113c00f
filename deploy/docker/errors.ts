export type DeployErrorCode =
  | 'GH_ERR_DEPLOY_ENGINE'
  | 'GH_ERR_DEPLOY_BUILD'
  | 'GH_ERR_DEPLOY_NO_IMAGE'
  | 'GH_ERR_DEPLOY_UNHEALTHY'
  | 'GH_ERR_DEPLOY_CONFLICT'
  | 'GH_ERR_DEPLOY_NOT_UP'
  | 'GH_ERR_DEPLOY_NO_SWARM';

/** Any failure of a deploy command; the CLI prints the message and exits 1. */
export class DeployError extends Error {
  constructor(
    readonly code: DeployErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DeployError';
  }
}
