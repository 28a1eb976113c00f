import { frameworkSuite } from './suite.js';

// app/examples/hono/app.ts, served by gatehouse workers behind the proxy.
frameworkSuite({ framework: 'hono', title: 'Hono', earlyHints: false });
