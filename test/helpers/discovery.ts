import { PassThrough, Writable } from 'node:stream';
import { createLogger } from '../../process/logger.js';
import type { ContainerSummary, DockerClient, DockerEvent } from '../../proxy/sources/docker/client.js';
import type { Pm2BusEvent, Pm2Client, Pm2ProcessEntry } from '../../proxy/sources/pm2/client.js';
import type { SourceTimers } from '../../proxy/sources/timers.js';

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

/** A debug-level logger whose lines a test reads back, parsed. */
export function captureLogs() {
  const lines: Array<{ level: number; msg: string; [key: string]: unknown }> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ name: 'test', level: 'debug' }, sink), lines };
}

/** Lets pending promise callbacks and stream events run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** One process of a pm2 list, as the daemon describes a worker of the ecosystem. */
export function fakePm2Process(options: {
  pmId: number;
  instance: number;
  pid?: number;
  status?: string;
  name?: string;
  base?: number;
  host?: string;
}): Pm2ProcessEntry {
  return {
    name: options.name ?? 'gatehouse-worker',
    pm_id: options.pmId,
    pid: options.pid ?? 1000 + options.pmId,
    pm2_env: {
      status: options.status ?? 'online',
      NODE_APP_INSTANCE: options.instance,
      ...(options.base !== undefined ? { GATEHOUSE_WORKER_PORT_BASE: String(options.base) } : {}),
      ...(options.host !== undefined ? { HOST: options.host } : {}),
      // pm2 keeps the start-time environment here too; the flat values above are the current ones.
      ...(options.base !== undefined ? { env: { GATEHOUSE_WORKER_PORT_BASE: '1' } } : {}),
    },
  };
}

/** A pm2 daemon in memory: a process list a test edits, a bus it emits on, failures it injects. */
export function fakePm2() {
  let processes: Pm2ProcessEntry[] = [];
  let listFailures = 0;
  let connectFailures = 0;
  let onEvent: ((event: Pm2BusEvent) => void) | null = null;
  let onClose: ((error: Error) => void) | null = null;
  let connects = 0;
  let lists = 0;
  let closed = 0;
  const client: Pm2Client = {
    async list() {
      lists++;
      if (listFailures > 0) {
        listFailures--;
        throw new Error('pm2 did not answer');
      }
      return structuredClone(processes);
    },
    follow(event, close) {
      onEvent = event;
      onClose = close;
    },
    close() {
      closed++;
    },
  };
  return {
    async connect(): Promise<Pm2Client> {
      connects++;
      if (connectFailures > 0) {
        connectFailures--;
        throw new Error('no pm2 daemon answers');
      }
      return client;
    },
    setProcesses(list: Pm2ProcessEntry[]): void {
      processes = list;
    },
    emit(event: Pm2BusEvent): void {
      onEvent?.(event);
    },
    loseBus(): void {
      onClose?.(new Error('pm2 bus connection lost'));
    },
    failNextLists(n: number): void {
      listFailures = n;
    },
    failNextConnects(n: number): void {
      connectFailures = n;
    },
    get counts() {
      return { connects, lists, closed };
    },
  };
}
