import type { DockerDiscoveryConfig, ServerConfig } from '../../../config/index.js';
import type { Logger } from '../../../process/logger.js';
import { createJsonLineParser } from '../../../stack/json-lines.js';
import { stackLabelFilter } from '../../../stack/labels.js';
import { type BackoffOptions, createReconnect } from '../backoff.js';
import { createSnapshotDelivery } from '../delivery.js';
import type { PoolSource } from '../source.js';
import { defaultTimers, type SourceTimers } from '../timers.js';
import { type ContainerSummary, createDockerClient, type DockerClient, type DockerEvent } from './client.js';
import { classifyContainers, type SkippedContainer } from './snapshot.js';

export interface DockerSourceOptions {
  /** The engine; default: dockerode on config.socket. */
  docker?: DockerClient;
  logger?: Logger;
  /** Events arriving within this many ms cause one re-list (a rollout fires dozens). */
  debounce?: number;
  /** Reconnection after the engine connection is lost. */
  retry?: BackoffOptions;
  timers?: SourceTimers;
}

/** Events after which the set of running, healthy workers may differ. */
const RELIST_ACTIONS = new Set([
  'start',
  'restart',
  'die',
  'stop',
  'kill',
  'destroy',
  'pause',
  'unpause',
  'health_status',
]);
/** Signals that end a worker (docker stop sends SIGTERM); the engine reports them by number. */
const STOP_SIGNALS = new Set([
  '15',
  '2',
  '3',
  '9',
  'SIGTERM',
  'SIGINT',
  'SIGQUIT',
  'SIGKILL',
  'TERM',
  'INT',
  'QUIT',
  'KILL',
]);

/**
 * The pool from Docker, as Traefik's Docker provider builds its config: list the stack's worker
 * containers, build a complete snapshot with a pure function, and on every container event
 * (start, die, stop, kill, health_status) re-list and rebuild — never patch. Events are watched
 * before the first listing, so none is missed between the two.
 *
 * A worker sent a stop signal leaves the pool at the engine's `kill` event — when it starts to
 * drain — not seconds later when it dies. The few requests racing that moment find its listener
 * closed, are refused before any byte was sent, and the proxy retries them on another worker.
 *
 * A lost engine connection (events stream ended, a listing failed) is retried with exponential
 * backoff; the last snapshot stays in force meanwhile, as an outage of the engine is not an outage
 * of the workers.
 */
export function createDockerSource(
  config: DockerDiscoveryConfig,
  defaults: { maxFails: number; failTimeout: number },
  options: DockerSourceOptions = {},
): PoolSource {
  const {
    docker = createDockerClient(config.socket),
    logger,
    debounce = 100,
    retry = { initial: 500, max: 30_000 },
    timers = defaultTimers,
  } = options;
  const listFilters = JSON.stringify({
    label: stackLabelFilter(config.stack, 'worker'),
    status: ['running'],
  });
  const eventFilters = JSON.stringify({
    type: ['container'],
    label: stackLabelFilter(config.stack, 'worker'),
  });

  let deliver: ((servers: readonly ServerConfig[]) => void) | null = null;
  // Bumped by start, stop and every lost connection: callbacks of an older connection are ignored.
  let connection = 0;
  let events: NodeJS.ReadableStream | null = null;
  let relistTimer: unknown = null;
  const reconnect = createReconnect(retry, timers);
  let listed: readonly ContainerSummary[] | null = null;
  let listSeq = 0;
  let appliedSeq = 0;
  const delivery = createSnapshotDelivery('docker', { stack: config.stack }, logger);
  const leaving = new Set<string>();
  const reported = new Map<string, string>();

  function connect(): void {
    const conn = ++connection;
    docker.getEvents({ filters: eventFilters }).then(
      function watch(stream) {
        if (conn !== connection) return closeStream(stream);
        events = stream;
        const parser = createJsonLineParser(
          (event) => onEvent(event as DockerEvent),
          (line) => logger?.warn({ line: line.slice(0, 200) }, 'docker discovery: unreadable event'),
        );
        stream.on('data', (chunk: Buffer | string) => {
          if (conn === connection) parser.push(chunk);
        });
        stream.on('error', (error: unknown) => lost(conn, error));
        stream.on('end', () => lost(conn, new Error('docker event stream ended')));
        stream.on('close', () => lost(conn, new Error('docker event stream closed')));
        relist(conn);
      },
      (error: unknown) => lost(conn, error),
    );
  }

  function relist(conn: number): void {
    const seq = ++listSeq;
    docker.listContainers({ filters: listFilters }).then(
      function apply(containers) {
        // An older listing that answers late must not undo a newer one.
        if (conn !== connection || seq < appliedSeq) return;
        appliedSeq = seq;
        if (reconnect.failures > 0)
          logger?.info({ stack: config.stack }, 'docker discovery: connection restored');
        reconnect.succeeded();
        listed = containers;
        const present = new Set(containers.map((c) => c.Id));
        for (const id of leaving) if (!present.has(id)) leaving.delete(id);
        publish();
      },
      (error: unknown) => lost(conn, error),
    );
  }

  function scheduleRelist(): void {
    if (relistTimer !== null) return;
    relistTimer = timers.setTimeout(() => {
      relistTimer = null;
      relist(connection);
    }, debounce);
  }

  function onEvent(event: DockerEvent): void {
    if (event.Type !== undefined && event.Type !== 'container') return;
    const id = event.Actor?.ID;
    const action = (event.Action ?? '').split(':')[0]!.trim();
    if (!id || !RELIST_ACTIONS.has(action)) return;
    if (action === 'kill' && STOP_SIGNALS.has(event.Actor?.Attributes?.signal ?? '')) {
      leaving.add(id);
      // Rebuilt from the last listing at once: every ms counts between the signal and the refusal.
      publish();
    } else if (action === 'start' || action === 'restart') {
      leaving.delete(id);
    }
    scheduleRelist();
  }

  function publish(): void {
    if (!deliver || listed === null) return;
    const { servers, skipped } = classifyContainers(listed, { ...config, ...defaults, leaving });
    report(skipped);
    delivery.deliver(deliver, servers);
  }

  /** Logs each container's reason once, when it changes, not on every re-list. */
  function report(skipped: readonly SkippedContainer[]): void {
    const now = new Map(skipped.map((s) => [s.id, s.reason]));
    for (const s of skipped) {
      if (reported.get(s.id) === s.reason) continue;
      const fields = { container: s.name, id: s.id.slice(0, 12), reason: s.reason };
      if (s.broken) logger?.warn(fields, 'docker discovery: container skipped');
      else logger?.debug(fields, 'docker discovery: container not in the pool');
    }
    reported.clear();
    for (const [id, reason] of now) reported.set(id, reason);
  }

  function lost(conn: number, error: unknown): void {
    if (conn !== connection || deliver === null) return;
    connection++;
    closeEvents();
    if (relistTimer !== null) timers.clearTimeout(relistTimer);
    relistTimer = null;
    const { retryIn, attempt } = reconnect.schedule(() => {
      if (deliver !== null) connect();
    });
    logger?.warn(
      { err: error, stack: config.stack, retryIn, attempt },
      'docker discovery: engine connection lost; keeping the last pool',
    );
  }

  function closeEvents(): void {
    if (events) closeStream(events);
    events = null;
  }

  return {
    start(onSnapshot) {
      if (deliver !== null) return;
      deliver = onSnapshot;
      delivery.reset();
      reconnect.succeeded();
      connect();
    },
    stop() {
      deliver = null;
      connection++;
      closeEvents();
      if (relistTimer !== null) timers.clearTimeout(relistTimer);
      relistTimer = null;
      reconnect.cancel();
      listed = null;
      leaving.clear();
      reported.clear();
    },
  };
}

function closeStream(stream: NodeJS.ReadableStream): void {
  const destroyable = stream as NodeJS.ReadableStream & { destroy?: () => void };
  stream.removeAllListeners('data');
  // A destroyed stream may still emit 'error'; it has nobody left to tell.
  stream.on('error', () => {});
  destroyable.destroy?.();
}
