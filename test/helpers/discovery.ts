import { PassThrough } from 'node:stream';
import type { ContainerSummary, DockerClient, DockerEvent } from '../../proxy/sources/docker/client.js';
import type { SourceTimers } from '../../proxy/sources/docker/source.js';

export interface FakeContainerOptions {
  id: string;
  /** The address on the one network `shop-net`; or give `networks`. */
  ip?: string;
  networks?: Record<string, string>;
  stack?: string;
  role?: string;
  state?: string;
  status?: string;
  health?: string;
  labels?: Record<string, string>;
}

/** One entry of a container listing, as the engine sends it for a stack's worker. */
export function fakeContainer(options: FakeContainerOptions): ContainerSummary {
  const networks = options.networks ?? { 'shop-net': options.ip ?? '' };
  return {
    Id: options.id,
    Names: [`/shop-worker-${options.id}`],
    Labels: {
      'gatehouse.stack': options.stack ?? 'shop',
      'gatehouse.role': options.role ?? 'worker',
      ...options.labels,
    },
    State: options.state ?? 'running',
    Status: options.status ?? 'Up 10 seconds (healthy)',
    ...(options.health ? { Health: { Status: options.health } } : {}),
    NetworkSettings: {
      Networks: Object.fromEntries(Object.entries(networks).map(([name, ip]) => [name, { IPAddress: ip }])),
    },
  };
}

/**
 * An engine in memory: a container list a test edits, event streams it can write to or cut, and
 * failures it can inject. Records every call.
 */
export function fakeDocker() {
  let containers: ContainerSummary[] = [];
  let listFailures = 0;
  let eventFailures = 0;
  const streams: PassThrough[] = [];
  const listCalls: string[] = [];
  const eventCalls: string[] = [];
  const client: DockerClient = {
    async listContainers(options) {
      listCalls.push(options.filters);
      if (listFailures > 0) {
        listFailures--;
        throw Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), { code: 'ECONNREFUSED' });
      }
      return structuredClone(containers);
    },
    async getEvents(options) {
      eventCalls.push(options.filters);
      if (eventFailures > 0) {
        eventFailures--;
        throw Object.assign(new Error('connect ENOENT /var/run/docker.sock'), { code: 'ENOENT' });
      }
      const stream = new PassThrough();
      streams.push(stream);
      return stream;
    },
  };
  return {
    client,
    listCalls,
    eventCalls,
    setContainers(list: ContainerSummary[]): void {
      containers = list;
    },
    /** The open events stream (the latest one). */
    get stream(): PassThrough | undefined {
      return streams.at(-1);
    },
    streams,
    emit(event: DockerEvent): void {
      streams.at(-1)!.write(`${JSON.stringify(event)}\n`);
    },
    failNextLists(n: number): void {
      listFailures = n;
    },
    failNextEventConnections(n: number): void {
      eventFailures = n;
    },
  };
}

/** Timers a test fires by hand; each records its delay. */
export function fakeTimers() {
  let nextId = 1;
  const pending = new Map<number, { callback: () => void; ms: number }>();
  const timers: SourceTimers = {
    setTimeout(callback, ms) {
      const id = nextId++;
      pending.set(id, { callback, ms });
      return id;
    },
    clearTimeout(handle) {
      pending.delete(handle as number);
    },
  };
  return {
    timers,
    /** Delays of the timers waiting now, in the order they were set. */
    delays(): number[] {
      return [...pending.values()].map((t) => t.ms);
    },
    /** Fires every waiting timer (not those they set). */
    fireAll(): void {
      const due = [...pending.entries()];
      for (const [id] of due) pending.delete(id);
      for (const [, timer] of due) timer.callback();
    },
  };
}

/** Lets pending promise callbacks and stream events run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
