import { containerHealth } from '../../stack/container.js';
import { NETWORK_LABEL, ROLE_LABEL } from '../../stack/labels.js';
import { textTable } from '../text-table.js';
import type { ContainerInfo } from './engine.js';
import { WORKER_PORT } from './stack-config.js';

export interface StatusRow {
  name: string;
  role: string;
  state: string;
  health: string;
  /** Workers: the address the proxy reaches them at; the proxy: where it is published. */
  address: string;
  image: string;
}

/** One row per container of the stack: the proxy first, then workers oldest first. */
export function statusRows(containers: readonly ContainerInfo[]): StatusRow[] {
  return [...containers]
    .sort((a, b) => roleOrder(a) - roleOrder(b) || a.created - b.created || a.name.localeCompare(b.name))
    .map((c) => {
      const role = c.labels[ROLE_LABEL] ?? '?';
      const network = c.labels[NETWORK_LABEL];
      const ip = network ? c.networks[network] : Object.values(c.networks)[0];
      const address = role === 'worker' ? (ip ? `${ip}:${WORKER_PORT}` : '-') : c.ports.join(', ') || '-';
      return {
        name: c.name,
        role,
        state: c.state,
        health: c.state === 'running' ? containerHealth({ Id: c.id, Status: c.status }) : '-',
        address,
        image: c.image,
      };
    });
}

/** A plain-text table, columns padded to their widest cell. */
export function formatTable(rows: readonly StatusRow[]): string {
  const header: StatusRow = {
    name: 'NAME',
    role: 'ROLE',
    state: 'STATE',
    health: 'HEALTH',
    address: 'ADDRESS',
    image: 'IMAGE',
  };
  const keys = Object.keys(header) as Array<keyof StatusRow>;
  return textTable(
    keys.map((k) => header[k]),
    rows.map((r) => keys.map((k) => r[k])),
  );
}

function roleOrder(c: ContainerInfo): number {
  return c.labels[ROLE_LABEL] === 'proxy' ? 0 : 1;
}
