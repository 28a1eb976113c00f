import { readBody } from './body.js';
import { isFormRequest, parseForm } from './form.js';
import { badRequest } from './http-error.js';
import type { Route, RouteHandler } from './router.js';
import type { Views } from './views.js';

/** The Flask tutorial's demo credentials. */
const USERNAME = 'admin';
const PASSWORD = 'password';

/** The pages of the Flask example: home, the sign-in form, and its result. */
export function pageRoutes(views: Views, options: { bodyLimit: number }): Route[] {
  const home: RouteHandler = () => views.page('home', { title: 'Home' });
  const signinForm: RouteHandler = () => views.page('signin', { title: 'Sign in' });

  const signin: RouteHandler = async (request) => {
    // As Flask's request.form['username']: a body that is not the form is a bad request.
    if (!isFormRequest(request)) throw badRequest('Send the form as application/x-www-form-urlencoded.');
    const form = parseForm(await readBody(request, options.bodyLimit));
    const username = form.get('username');
    const password = form.get('password');
    if (username === undefined || password === undefined) {
      throw badRequest('The form needs a username and a password.');
    }
    if (username === USERNAME && password === PASSWORD) {
      return views.page('welcome', { title: 'Welcome', username });
    }
    return views.page('signin', { title: 'Sign in', message: 'Bad username or password.', username });
  };

  return [
    { method: 'GET', path: '/', handler: home },
    { method: 'GET', path: '/signin', handler: signinForm },
    { method: 'POST', path: '/signin', handler: signin },
  ];
}
