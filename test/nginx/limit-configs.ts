/** Config keys with request limits every way a config can set them, for the render and nginx -t tests. */
export const LIMITED_ROUTES = {
  limits: { requests: { rate: '10r/s', burst: 20 } },
  routes: [
    { name: 'site' },
    {
      name: 'api',
      path: '/api/',
      limits: { requests: { rate: '30r/m', nodelay: true, key: 'header:X-Api-Key' } },
    },
    { name: 'open', path: '/open/', limits: { requests: null } },
    { name: 'old', path: '/old/', redirect: { to: '/' } },
  ],
};
