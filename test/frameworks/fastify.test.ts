import { frameworkSuite } from './suite.js';

// app/examples/fastify/app.ts, served by gatehouse workers behind the proxy.
frameworkSuite({ framework: 'fastify', title: 'Fastify', earlyHints: true });
