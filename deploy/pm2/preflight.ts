import { createServer } from 'node:net';
import { type Address, type Config, formatAddress } from '../../config/index.js';
import { findPortHolder, type PortHolder } from './port-holder.js';

/** The config key that sets an address: what a person edits when it is taken. */
export type AddressKey =
  | 'listen'
  | 'status.listen'
  | 'tls.listen'
  | 'workers.port'
  | `routes.${number}.workers.port`;

/** One address the stack will listen on, and where it comes from. */
export interface StackAddress {
  key: AddressKey;
  address: Address;
  /** For workers.port: which worker (it listens on workers.port + worker). */
  worker: number | null;
}

export interface TakenAddress extends StackAddress {
  /** EADDRINUSE, EACCES, EADDRNOTAVAIL... */
  code: string;
  holder: PortHolder | null;
}

/** Every address `gatehouse up` will have listened on once the stack is up. */
export function stackAddresses(config: Config): StackAddress[] {
  const workerAddresses = (key: AddressKey, workers: Config['workers']): StackAddress[] =>
    Array.from({ length: workers.count }, (_, i) => ({
      key,
      address: { host: workers.host, port: workers.port + i },
      worker: i,
    }));
  return [
    { key: 'listen', address: config.listen, worker: null },
    { key: 'status.listen', address: config.status.listen, worker: null },
    ...(config.tls ? [{ key: 'tls.listen' as const, address: config.tls.listen, worker: null }] : []),
    ...workerAddresses('workers.port', config.workers),
    // A route with workers of its own: pm2 starts them too (gatehouse-worker-<route>).
    ...config.routes.flatMap((route, i) =>
      route.target.kind === 'pool' && route.target.localWorkers
        ? workerAddresses(`routes.${i}.workers.port`, route.target.workers)
        : [],
    ),
  ];
}

/** Pairs of the stack's own addresses that would take the same port (a config that fights itself). */
export function clashingAddresses(addresses: readonly StackAddress[]): [StackAddress, StackAddress][] {
  const clashes: [StackAddress, StackAddress][] = [];
  addresses.forEach((a, i) => {
    for (const b of addresses.slice(i + 1)) {
      if (a.address.port === b.address.port && hostsOverlap(a.address.host, b.address.host))
        clashes.push([a, b]);
    }
  });
  return clashes;
}

const WILDCARDS = new Set(['', '0.0.0.0', '::']);
function hostsOverlap(a: string, b: string): boolean {
  return a === b || WILDCARDS.has(a) || WILDCARDS.has(b);
}

/**
 * The addresses something else already listens on, found by binding each for a moment (what the
 * processes would do, so what fails here would fail there), with who holds it where Linux says.
 */
export async function takenAddresses(
  addresses: readonly StackAddress[],
  findHolder: (port: number) => Promise<PortHolder | null> = findPortHolder,
): Promise<TakenAddress[]> {
  const results = await Promise.all(
    addresses.map(async (entry) => {
      const code = await bindError(entry.address);
      if (code === null) return null;
      const holder = code === 'EADDRINUSE' ? await findHolder(entry.address.port).catch(() => null) : null;
      return { ...entry, code, holder };
    }),
  );
  return results.filter((entry): entry is TakenAddress => entry !== null);
}

function bindError({ host, port }: Address): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/** `status.listen`, or `workers.port (worker 1 listens on workers.port + 1)`. */
export function describeKey(entry: StackAddress): string {
  return entry.worker === null
    ? entry.key
    : `${entry.key} (worker ${entry.worker} listens on ${entry.key} + ${entry.worker})`;
}

/**
 * One line a person can act on: the address, what holds it, the key to change and where.
 * `where` names the config file, or how to give one.
 */
export function describeTaken(entry: TakenAddress, where: string): string {
  const address = formatAddress(entry.address);
  const fix = `change ${describeKey(entry)} in ${where}`;
  if (entry.code === 'EACCES')
    return `${address} is not allowed to this user (ports below 1024 need root); ${fix}`;
  if (entry.code === 'EADDRNOTAVAIL') return `${address} is not an address of this host; ${fix}`;
  if (entry.code !== 'EADDRINUSE') return `${address} cannot be listened on (${entry.code}); ${fix}`;
  const holder = entry.holder ? ` by pid ${entry.holder.pid} (${entry.holder.command})` : '';
  const or = entry.holder ? ', or stop that process' : '';
  return `${address} is already in use${holder}; ${fix}${or}`;
}

/** One line for two keys of the config that name the same port. */
export function describeClash([a, b]: [StackAddress, StackAddress], where: string): string {
  return `${formatAddress(a.address)} is both ${describeKey(a)} and ${describeKey(b)}; change one of them in ${where}`;
}

/**
 * Every reason the stack could not listen where the config says, one line each, before anything
 * starts; empty when every address is free.
 */
export async function addressProblems(config: Config): Promise<string[]> {
  const where = config.source ?? 'a config file of your own (gatehouse up --config FILE)';
  const addresses = stackAddresses(config);
  const clashes = clashingAddresses(addresses);
  if (clashes.length > 0) return clashes.map((pair) => describeClash(pair, where));
  return (await takenAddresses(addresses)).map((entry) => describeTaken(entry, where));
}
