/**
 * Which port a worker of the pm2 ecosystem listens on. pm2's `increment_var` cannot be trusted
 * with it: pm2 drops the incremented value when an ecosystem file is reloaded, restarted or
 * resurrected (Unitech/pm2 #4502, #4649; the fix is unmerged), and then two instances fight for
 * one port. `NODE_APP_INSTANCE` is what pm2 keeps per instance through start, reload, restart,
 * scale (a new instance takes the lowest free number) and resurrect, so the port is derived from
 * it: worker i listens on the base + i. The proxy's pm2 pool source derives the same address from
 * the same two variables in pm2's process list.
 */

/** Set by the ecosystem on the workers: the port of instance 0. */
export const PORT_BASE_VAR = 'GATEHOUSE_WORKER_PORT_BASE';
/** pm2's per-instance number (its `instance_var` default). */
export const INSTANCE_VAR = 'NODE_APP_INSTANCE';

/** A process's variables as an environment or pm2's process list holds them (strings or numbers). */
export type WorkerVariables = Readonly<Record<string, unknown>>;

/** A whole number from a variable, or null when it is absent or not one. */
export function integerVar(vars: WorkerVariables, name: string): number | null {
  const value = vars[name];
  if (value === undefined || value === null || value === '') return null;
  const n = Number(value);
  return Number.isInteger(n) ? n : null;
}

/** The instance number pm2 gave the process (0 outside pm2). */
export function workerInstance(vars: WorkerVariables): number {
  const instance = integerVar(vars, INSTANCE_VAR) ?? integerVar(vars, 'pm_id') ?? 0;
  return instance >= 0 ? instance : 0;
}

/**
 * The port from the ecosystem's variables: base + instance when the base is set, else null (then
 * `PORT` or the config decides). A base that is not a number is returned as NaN for the caller to
 * report.
 */
export function ecosystemPort(vars: WorkerVariables): number | null {
  if (vars[PORT_BASE_VAR] === undefined || vars[PORT_BASE_VAR] === '') return null;
  const base = integerVar(vars, PORT_BASE_VAR);
  return base === null ? Number.NaN : base + workerInstance(vars);
}
