import { frameworkSuite } from './suite.js';

// app/examples/koa/app.ts, served by gatehouse workers behind the proxy.
frameworkSuite({ framework: 'koa', title: 'Koa', earlyHints: false });
