import { frameworkSuite } from './suite.js';

// app/examples/express/app.ts, served by gatehouse workers behind the proxy.
frameworkSuite({ framework: 'express', title: 'Express', earlyHints: true });
