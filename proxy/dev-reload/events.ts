import type { IncomingMessage, ServerResponse } from 'node:http';

/** Where the status listener serves the script and the event stream. */
export const SCRIPT_PATH = '/dev-reload.js';
export const EVENTS_PATH = '/dev-reload/events';

/**
 * The script every development page loads from the status listener: it opens the event stream
 * next to it and reloads the page on `reload`. The stream URL carries the generation the page
 * was served in (the script's own query), so a page that opens its stream after a reload was
 * already pushed still gets it. EventSource reconnects by itself (after a proxy reload, say).
 */
export const CLIENT_SCRIPT = `// gatehouse development reload (development profile only): reloads this page when the workers were replaced.
(function () {
  var me = document.currentScript;
  if (!me || typeof EventSource !== 'function') return;
  var src = new URL(me.src);
  var events = new EventSource(new URL('${EVENTS_PATH}' + src.search, src).href);
  events.addEventListener('reload', function () {
    events.close();
    location.reload();
  });
})();
`;

/**
 * A generation: this proxy process's boot id and how many reloads it has pushed. A page
 * remembers the one it was served in; another process's id (the proxy was reloaded) means
 * nothing to this one, so such a page just listens from now on.
 */
export interface Generation {
  boot: string;
  count: number;
}

export function formatGeneration({ boot, count }: Generation): string {
  return `${boot}.${count}`;
}

export function parseGeneration(text: string | null): Generation | null {
  const match = /^([a-z0-9]{1,32})\.(\d{1,9})$/.exec(text ?? '');
  return match ? { boot: match[1]!, count: Number(match[2]) } : null;
}

/** The event stream's listeners: every open development page, one response each. */
export interface ReloadHub {
  readonly generation: Generation;
  readonly size: number;
  /** Serves the script and the stream; false for any other path (the status listener goes on). */
  serve(req: IncomingMessage, res: ServerResponse, pathname: string, search: URLSearchParams): boolean;
  /** Tells every open page to reload; returns how many were told. */
  reload(): number;
  /** Ends every stream (shutdown). */
  close(): void;
}

// Comments on an idle stream every so often: an intermediary or the browser would otherwise
// take a silent connection for a dead one.
const HEARTBEAT_MS = 15_000;

export function createReloadHub(boot: string): ReloadHub {
  const generation: Generation = { boot, count: 0 };
  const streams = new Set<ServerResponse>();
  let heartbeat: NodeJS.Timeout | null = null;

  function send(res: ServerResponse): void {
    res.write(`event: reload\ndata: ${formatGeneration(generation)}\n\n`);
  }

  function beat(): void {
    if (streams.size === 0 && heartbeat) {
      clearInterval(heartbeat);
      heartbeat = null;
    } else if (streams.size > 0 && !heartbeat) {
      heartbeat = setInterval(() => {
        for (const res of streams) res.write(': still here\n\n');
      }, HEARTBEAT_MS);
      heartbeat.unref();
    }
  }

  function openStream(req: IncomingMessage, res: ServerResponse, search: URLSearchParams): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // The page is on the proxy's origin, the stream on the status listener's.
      'access-control-allow-origin': '*',
      'x-content-type-options': 'nosniff',
    });
    // Reconnect within a second when the stream drops (a proxy reload).
    res.write('retry: 1000\n\n');
    const since = parseGeneration(search.get('g'));
    if (since && since.boot === generation.boot && since.count < generation.count) {
      send(res);
      res.end();
      return;
    }
    streams.add(res);
    beat();
    req.socket.setKeepAlive(true);
    res.once('close', () => {
      streams.delete(res);
      beat();
    });
  }

  return {
    generation,
    get size() {
      return streams.size;
    },
    serve(req, res, pathname, search) {
      if (pathname !== SCRIPT_PATH && pathname !== EVENTS_PATH) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
        res.end('method not allowed\n');
        return true;
      }
      if (pathname === EVENTS_PATH) {
        if (req.method === 'GET') openStream(req, res, search);
        else res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' }).end();
        return true;
      }
      res.writeHead(200, {
        'content-type': 'text/javascript; charset=utf-8',
        'content-length': Buffer.byteLength(CLIENT_SCRIPT),
        'cache-control': 'no-store',
        // Loaded by pages of another origin, some of which may require CORP (COEP).
        'cross-origin-resource-policy': 'cross-origin',
        'x-content-type-options': 'nosniff',
      });
      res.end(CLIENT_SCRIPT);
      return true;
    },
    reload() {
      generation.count++;
      const told = streams.size;
      for (const res of streams) {
        send(res);
        res.end();
      }
      streams.clear();
      beat();
      return told;
    },
    close() {
      for (const res of streams) res.end();
      streams.clear();
      beat();
    },
  };
}
