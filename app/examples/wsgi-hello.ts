import { fromWsgi, type WsgiApp } from '../wsgi.js';

/**
 * The hello world of every WSGI tutorial, served by a gatehouse worker:
 *   node bin/gatehouse.js worker --app dist/app/examples/wsgi-hello.js
 */
export const hello: WsgiApp = function application(_environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'text/html']]);
  return ['<h1>Hello World!</h1>'];
};

export default fromWsgi(hello);
