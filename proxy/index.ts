export { type RunProxyOptions, runProxy } from './run-proxy.js';
export { createProxyServer, type ProxyServer, type ProxyServerOptions } from './server.js';
