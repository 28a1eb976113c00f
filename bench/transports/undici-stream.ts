import type { ServerResponse } from 'node:http';
import { Pool } from 'undici';
import {
  badGateway,
  prepareRequest,
  responseHeadersFromObject,
  serveTransport,
  transportArgs,
} from './rules.js';

/** (c) undici Pool.stream(): the factory writes the head and hands back the client response to write into. */
const { port, upstream } = transportArgs();

const pool = new Pool(`http://${upstream.host}:${upstream.port}`, {
  pipelining: 1,
  keepAliveTimeout: 60_000,
});

serveTransport(port, (req, res) => {
  const { requestId, hasBody } = prepareRequest(req, res);
  pool.stream(
    {
      path: req.url ?? '/',
      method: req.method as 'GET',
      headers: req.headers,
      body: hasBody ? req : null,
      opaque: res,
    },
    ({ statusCode, headers, opaque }) => {
      const out = opaque as ServerResponse;
      out.writeHead(statusCode, responseHeadersFromObject(headers, requestId));
      return out;
    },
    (err) => {
      if (err) badGateway(res, requestId);
    },
  );
});
