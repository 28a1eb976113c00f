/**
 * The labels that tie containers to a gatehouse stack. The deployer writes them; discovery reads
 * them. Labels cannot change on a running container, so they say what a container is, never
 * whether it should take traffic (that is its state and health).
 */
export const STACK_LABEL = 'gatehouse.stack';
/** worker | proxy */
export const ROLE_LABEL = 'gatehouse.role';
/** The network whose address the proxy uses, for a worker attached to several. */
export const NETWORK_LABEL = 'gatehouse.network';
/**
 * A worker of a route's own pool (routes[].workers): the route's name. Workers without it are the
 * top-level pool's, so stacks deployed before routes keep their pool.
 */
export const ROUTE_LABEL = 'gatehouse.route';
/** A worker listening on another port than upstream.docker.port. */
export const PORT_LABEL = 'gatehouse.port';

export type Role = 'worker' | 'proxy';

/** The engine's `label` filter values for a stack's containers, optionally of one role. */
export function stackLabelFilter(stack: string, role?: Role): string[] {
  return role ? [`${STACK_LABEL}=${stack}`, `${ROLE_LABEL}=${role}`] : [`${STACK_LABEL}=${stack}`];
}
