/**
 * What gatehouse reads of a Docker container, as the Engine's list call returns it: the
 * proxy's Docker source builds its pool from it, the deployer's status shows it.
 */
export interface ContainerSummary {
  Id: string;
  Names?: readonly string[];
  Labels?: Readonly<Record<string, string>>;
  /** created | running | paused | restarting | exited | dead */
  State?: string;
  /** "Up 3 minutes (healthy)": the only place engines before API 1.52 report health in a listing. */
  Status?: string;
  /** Newer engines report health as a field too. */
  Health?: { Status?: string };
  NetworkSettings?: { Networks?: Readonly<Record<string, { IPAddress?: string } | undefined>> };
}

export type ContainerHealth = 'healthy' | 'unhealthy' | 'starting' | 'none';

/** Health from the listing: the Health field when the engine sends one, else the Status text. */
export function containerHealth(container: ContainerSummary): ContainerHealth {
  const field = container.Health?.Status;
  if (field === 'healthy' || field === 'unhealthy' || field === 'starting') return field;
  if (field === 'none') return 'none';
  const status = container.Status ?? '';
  if (status.includes('(healthy)')) return 'healthy';
  if (status.includes('(unhealthy)')) return 'unhealthy';
  if (status.includes('(health: starting)')) return 'starting';
  return 'none';
}
