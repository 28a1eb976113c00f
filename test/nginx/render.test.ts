import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig, packageRoot } from '../../config/index.js';
import { renderCommand, renderNginx } from '../../nginx/render.js';
import { HEAD_BUFFER, responseBuffers } from '../../nginx/render-buffering.js';
import { configFrom } from '../helpers/nginx.js';

/** The lines of the block that starts with `head` (up to its closing brace), trimmed. */
function block(text: string, head: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trim() === `${head} {`);
  assert.ok(start >= 0, `no block "${head}" in:\n${text}`);
  const depth = lines[start]!.length - lines[start]!.trimStart().length;
  const end = lines.findIndex((line, i) => i > start && line === `${' '.repeat(depth)}}`);
  return lines
    .slice(start + 1, end)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

const host = (raw: Record<string, unknown> = {}) => renderNginx(configFrom(raw), { target: 'host' });

describe('committed nginx configs', () => {
  const composeFile = join(packageRoot, 'config', 'compose.yaml');
  const committed = [
    {
      out: 'nginx/gatehouse.host.conf',
      target: 'host' as const,
      // The default temp_path is <os tmpdir>/gatehouse-buffers: the committed file shows Linux's /tmp,
      // whatever TMPDIR the machine running the test has. Likewise static roots inside the checkout
      // show it at /opt/gatehouse, wherever the checkout is.
      config: () => {
        const config = loadConfig({ env: {} });
        return {
          ...config,
          buffering: { ...config.buffering, tempPath: '/tmp/gatehouse-buffers' },
          routes: config.routes.map((route) =>
            route.target.kind === 'static'
              ? {
                  ...route,
                  target: { ...route.target, root: route.target.root.replace(packageRoot, '/opt/gatehouse') },
                }
              : route,
          ),
        };
      },
    },
    {
      out: 'nginx/gatehouse.compose.conf',
      target: 'compose' as const,
      config: () =>
        existsSync(composeFile) ? loadConfig({ file: composeFile, env: {} }) : loadConfig({ env: {} }),
    },
  ];
  for (const { out, target, config } of committed) {
    test(`${out} is what a fresh render of its config gives`, () => {
      const options = { target, out };
      const fresh = renderNginx(config(), options);
      const onDisk = readFileSync(join(packageRoot, out), 'utf8');
      assert.ok(
        onDisk === fresh,
        `${out} differs from a fresh render; re-render with: ${renderCommand(config(), options)}`,
      );
    });
  }
});

describe('renderNginx', () => {
  test('the header says how the file was rendered and not to edit it', () => {
    const text = renderNginx(loadConfig({ env: {} }), { target: 'host', out: 'nginx/gatehouse.host.conf' });
    const head = text.split('\n').slice(0, 5).join('\n');
    assert.match(
      head,
      /# Rendered by: npx gatehouse nginx --target host --out nginx\/gatehouse\.host\.conf\n/,
    );
    assert.match(head, /Do not edit; re-render\./);
  });

  test('the command in the header names the config file relative to the project', () => {
    const config = { ...loadConfig({ env: {} }), source: join(packageRoot, 'config', 'compose.yaml') };
    assert.equal(
      renderCommand(config, { target: 'compose', out: 'nginx/gatehouse.compose.conf' }),
      'npx gatehouse nginx --config config/compose.yaml --target compose --out nginx/gatehouse.compose.conf',
    );
  });

  test('every server is rendered with weight, max_fails, fail_timeout and backup', () => {
    const text = host({
      upstream: {
        servers: [
          { address: '127.0.0.1:9001', weight: 3, max_fails: 2, fail_timeout: '30s' },
          { address: '[::1]:9002', fail_timeout: '500ms' },
          { address: 'worker.internal:9003', backup: true },
        ],
        max_fails: 4,
      },
    });
    assert.deepEqual(block(text, 'upstream gatehouse').slice(0, 3), [
      'server 127.0.0.1:9001 weight=3 max_fails=2 fail_timeout=30s;',
      'server [::1]:9002 weight=1 max_fails=4 fail_timeout=500ms;',
      'server worker.internal:9003 weight=1 max_fails=4 fail_timeout=10s backup;',
    ]);
  });

  const policies = [
    { balance: 'round_robin', directive: null },
    { balance: 'least_conn', directive: 'least_conn;' },
    { balance: 'ip_hash', directive: 'ip_hash;' },
    { balance: 'random', directive: 'random two least_conn;' },
  ];
  for (const { balance, directive } of policies) {
    test(`balance ${balance} renders ${directive ?? 'no balancing directive'}, before keepalive`, () => {
      const upstream = block(
        host({ upstream: { balance, keepalive: 16, keepalive_timeout: '30s' } }),
        'upstream gatehouse',
      );
      const servers = upstream.filter((line) => line.startsWith('server '));
      const rest = upstream.slice(servers.length);
      assert.deepEqual(rest, [...(directive ? [directive] : []), 'keepalive 16;', 'keepalive_timeout 30s;']);
      assert.equal(servers.length, 2);
    });
  }

  test('keepalive 0 renders no upstream keepalive', () => {
    const upstream = block(host({ upstream: { keepalive: 0 } }), 'upstream gatehouse');
    assert.ok(!upstream.some((line) => line.startsWith('keepalive')), upstream.join('\n'));
  });

  test('the location sets the contract headers, HTTP/1.1, streaming and the WebSocket-only upgrade', () => {
    const location = block(host(), 'location /');
    for (const line of [
      'proxy_pass http://gatehouse;',
      'proxy_http_version 1.1;',
      'proxy_set_header Host $gatehouse_host;',
      'proxy_set_header X-Real-IP $remote_addr;',
      'proxy_set_header X-Forwarded-For $gatehouse_forwarded_for;',
      'proxy_set_header X-Forwarded-Proto $gatehouse_forwarded_proto;',
      'proxy_set_header X-Request-Id $gatehouse_request_id;',
      'proxy_set_header Connection $gatehouse_connection;',
      'proxy_set_header Upgrade $gatehouse_upgrade;',
      'proxy_set_header Proxy-Connection "";',
    ]) {
      assert.ok(location.includes(line), `missing "${line}"`);
    }
    const text = host();
    assert.deepEqual(block(text, 'map $http_upgrade $gatehouse_upgrade'), [
      '"~*^websocket$" websocket;',
      'default "";',
    ]);
    assert.deepEqual(block(text, 'map $http_upgrade $gatehouse_connection'), [
      '"~*^websocket$" upgrade;',
      'default "";',
    ]);
    assert.deepEqual(block(text, 'map "$gatehouse_target_authority|$http_host" $gatehouse_host'), [
      '"~^(?<gatehouse_named>[^|]+)\\|" $gatehouse_named;',
      '"|" $host;',
      'default $http_host;',
    ]);
  });

  test('the default config buffers both ways, as nginx does by default, with temp files under temp_path', () => {
    const location = block(host({ buffering: { temp_path: '/var/spool/gatehouse' } }), 'location /');
    for (const line of [
      'proxy_request_buffering on;',
      'proxy_buffering on;',
      'client_body_buffer_size 16k;',
      'proxy_buffer_size 16k;',
      'proxy_buffers 5 4k;',
      'proxy_busy_buffers_size 16k;',
      // 1024m, not 1g: nginx takes no g in size directives.
      'proxy_max_temp_file_size 1024m;',
      'client_body_temp_path /var/spool/gatehouse/nginx-client-body;',
      'proxy_temp_path /var/spool/gatehouse/nginx-proxy;',
    ]) {
      assert.ok(location.includes(line), `missing "${line}" in:\n${location.join('\n')}`);
    }
  });

  test('buffering keys render in nginx spelling: off, memory, temp file size, temp path', () => {
    const location = block(
      host({
        buffering: {
          request: false,
          response: false,
          memory: '1m',
          temp_path: '/srv/buffers',
          max_temp_file_size: '200m',
        },
      }),
      'location /',
    );
    for (const line of [
      'proxy_request_buffering off;',
      'proxy_buffering off;',
      'client_body_buffer_size 1m;',
      // 1m in 64 pieces of 16k.
      'proxy_buffers 64 16k;',
      'proxy_busy_buffers_size 16k;',
      'proxy_max_temp_file_size 200m;',
      'client_body_temp_path /srv/buffers/nginx-client-body;',
      'proxy_temp_path /srv/buffers/nginx-proxy;',
    ]) {
      assert.ok(location.includes(line), `missing "${line}" in:\n${location.join('\n')}`);
    }
    assert.ok(
      block(host({ buffering: { max_temp_file_size: 0 } }), 'location /').includes(
        'proxy_max_temp_file_size 0;',
      ),
    );
  });

  test('proxy_buffers meet the checks nginx -t makes, and hold about buffering.memory', () => {
    for (const memory of [0, 1000, 4096, 16 * 1024, 100 * 1024, 1024 * 1024, 64 * 1024 * 1024]) {
      const { count, size, busy } = responseBuffers(memory);
      const why = `memory ${memory}: ${count} × ${size}, busy ${busy}`;
      assert.ok(count >= 2, why);
      assert.equal(size % 4096, 0, why);
      assert.ok(busy >= Math.max(HEAD_BUFFER, size), why);
      assert.ok(busy <= (count - 1) * size, why);
      // At least the bound; over it by no more than the pieces nginx's checks require (5 × 4k).
      assert.ok(count * size >= memory && count * size <= Math.max(memory + size, 5 * 4096), why);
      assert.ok(count <= 64 || size === 4096, why);
    }
  });

  test('compose leaves the temp paths to the nginx image: temp_path is a folder of the proxy container', () => {
    const text = renderNginx(configFrom({ buffering: { temp_path: '/srv/buffers' } }), { target: 'compose' });
    assert.ok(!text.includes('/srv/buffers'), text);
    assert.ok(!/_temp_path /.test(text.replace(/^\s*#.*$/gm, '')), text);
    assert.match(text, /^ {8}proxy_buffering on;$/m);
  });

  test('timeouts, limits and retries come from the config in nginx spelling', () => {
    const text = host({
      timeouts: {
        connect: '2s',
        read: '1500ms',
        send: '45s',
        client_header: '10s',
        client_body: '20s',
        client_keepalive: '5s',
      },
      client_max_body_size: '8m',
      client_max_header_size: '32k',
      retries: { next_upstream: ['error', 'timeout', 'http_502', 'http_504'], tries: 0 },
    });
    const location = block(text, 'location /');
    for (const line of [
      'proxy_connect_timeout 2s;',
      'proxy_read_timeout 1500ms;',
      'proxy_send_timeout 45s;',
      'proxy_next_upstream error timeout http_502 http_504;',
      'proxy_next_upstream_tries 0;',
    ]) {
      assert.ok(location.includes(line), `missing "${line}"`);
    }
    assert.ok(
      !location.some((line) => line.includes('non_idempotent')),
      'POST/PATCH/LOCK must never be re-sent',
    );
    for (const line of [
      'client_max_body_size 8m;',
      'large_client_header_buffers 1 32k;',
      'client_header_timeout 10s;',
      'client_body_timeout 20s;',
      'keepalive_timeout 5s;',
    ]) {
      assert.match(text, new RegExp(`^    ${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    }
  });

  test('no retry conditions render proxy_next_upstream off', () => {
    assert.ok(
      block(host({ retries: { next_upstream: [] } }), 'location /').includes('proxy_next_upstream off;'),
    );
  });

  test('trusted proxies render realip and the trust geo; without them neither is believed', () => {
    const trusted = host({ trusted_proxies: ['10.0.0.0/8', '192.0.2.1'] });
    for (const line of [
      'set_real_ip_from 10.0.0.0/8;',
      'set_real_ip_from 192.0.2.1;',
      'real_ip_header X-Forwarded-For;',
      'real_ip_recursive on;',
    ]) {
      assert.ok(trusted.includes(`    ${line}\n`), `missing "${line}"`);
    }
    assert.deepEqual(block(trusted, 'geo $realip_remote_addr $gatehouse_trusted'), [
      'default 0;',
      '10.0.0.0/8 1;',
      '192.0.2.1 1;',
    ]);
    const none = host();
    assert.ok(!none.includes('set_real_ip_from'));
    assert.deepEqual(block(none, 'geo $realip_remote_addr $gatehouse_trusted'), ['default 0;']);
  });

  test('a json access log renders an escape=json log_format with our field names', () => {
    const text = host({ access_log: { format: 'json', path: '/var/log/gatehouse/access.log' } });
    const format = /^log_format gatehouse_json escape=json '(.*)';$/m.exec(text);
    assert.ok(format, 'no log_format');
    const sample = format[1]!.replace(/\$\w+/g, '0');
    assert.deepEqual(Object.keys(JSON.parse(sample) as object), [
      'time',
      'remote_addr',
      'request_id',
      'method',
      'uri',
      'protocol',
      'status',
      'body_bytes_sent',
      'referer',
      'user_agent',
      'upstream',
      'request_time',
      'upstream_response_time',
    ]);
    assert.match(text, /^ {4}access_log \/var\/log\/gatehouse\/access\.log gatehouse_json;$/m);
  });

  test('a combined access log uses the built-in format; off turns it off', () => {
    const combined = host();
    assert.ok(!combined.includes('log_format'));
    assert.match(combined, /^ {4}access_log \/var\/log\/nginx\/access\.log combined;$/m);
    assert.match(host({ access_log: { path: 'off' } }), /^ {4}access_log off;$/m);
  });

  test('the status server serves stub_status to localhost only on the host', () => {
    const text = host({ status: { listen: '127.0.0.1:9191' } });
    assert.match(
      text,
      /listen 127\.0\.0\.1:9191;\n {4}access_log off;\n\n {4}location = \/status \{\n {8}stub_status;\n {8}allow 127\.0\.0\.1;\n {8}allow ::1;\n {8}deny all;/,
    );
  });

  test('compose listens on every address, reaches app:3000 when no name is configured, allows private ranges', () => {
    const text = renderNginx(loadConfig({ env: {} }), { target: 'compose' });
    assert.match(text, /^ {4}listen 8080( default_server)?;$/m);
    assert.match(text, /^ {4}listen 8081;$/m);
    assert.match(text, /^ {4}server app:3000 weight=1 max_fails=1 fail_timeout=10s;$/m);
    assert.ok(!text.includes('server 127.0.0.1:8001'));
    for (const range of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'])
      assert.ok(text.includes(`allow ${range};`));
    assert.match(text, /resolver 127\.0\.0\.11/);
  });

  test('a resolved name becomes one server line that nginx resolves at start', () => {
    const text = renderNginx(
      configFrom({ upstream: { resolve: { host: 'workers.internal', port: 3100 } } }),
      {
        target: 'compose',
      },
    );
    assert.match(text, /^ {4}server workers\.internal:3100 weight=1 max_fails=1 fail_timeout=10s;$/m);
  });

  test('Docker label discovery cannot be rendered and says what to use instead', () => {
    const config = configFrom({ upstream: { docker: { stack: 'shop' } } });
    assert.throws(
      () => renderNginx(config, { target: 'host' }),
      /upstream\.docker: nginx cannot follow Docker labels/,
    );
  });
});

describe('renderNginx with routes', () => {
  const text = renderNginx(
    loadConfig({ file: join(packageRoot, 'config', 'examples', 'two-apps.yaml'), env: {} }),
    {
      target: 'host',
    },
  );

  test('a server block per host: the any-host routes in the default server, hello.localhost in its own', () => {
    assert.match(text, /^ {4}listen 127\.0\.0\.1:8080 default_server;\n {4}server_name _;$/m);
    assert.match(text, /^ {4}listen 127\.0\.0\.1:8080;\n {4}server_name hello\.localhost;$/m);
  });

  test("a route's own pool is its own upstream block; strip_prefix is proxy_pass with a trailing slash", () => {
    assert.deepEqual(block(text, 'upstream gatehouse_hello').slice(0, 2), [
      'server 127.0.0.1:8101 weight=1 max_fails=1 fail_timeout=10s;',
      'least_conn;',
    ]);
    assert.ok(block(text, 'location /hello/').includes('proxy_pass http://gatehouse_hello-api/;'));
  });

  test('a redirect with strip_prefix returns `to` with the rest of the path, relative as written', () => {
    assert.deepEqual(block(text, 'location /old/'), [
      'absolute_redirect off;',
      'location ~ ^/old/(?<gatehouse_rest>.*)$ {',
      'return 308 /$gatehouse_rest$is_args$args;',
      '}',
    ]);
  });

  test('a static route is a location with root, gzip_static, expires, the Content-Type table and a directory index or 404', () => {
    const lines = block(text, 'location /static/');
    assert.equal(lines[0], `root ${join(packageRoot, 'app', 'site')};`);
    for (const line of [
      'gzip_static on;',
      'gzip_vary on;',
      'max_ranges 1;',
      'expires 3600s;',
      'absolute_redirect off;',
    ])
      assert.ok(lines.includes(line), `${line} in ${lines.join('\n')}`);
    assert.ok(lines.includes('text/css css;'));
    assert.ok(lines.includes('default_type application/octet-stream;'));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx's own ${var} syntax, not a template
    assert.ok(lines.includes('try_files ${uri}index.html =404;'));
    assert.ok(
      !lines.some((line) => line.startsWith('add_header')),
      'no immutable: the server add_header applies',
    );
  });

  test('a static route with strip_prefix is an alias; immutable adds Cache-Control and repeats the request id header', () => {
    const only = renderNginx(
      configFrom({
        routes: [
          { path: '/' },
          { path: '/assets/', strip_prefix: true, static: { root: 'app/site', immutable: true } },
        ],
      }),
      { target: 'host' },
    );
    const lines = block(only, 'location /assets/');
    assert.equal(lines[0], `alias ${join(packageRoot, 'app', 'site')}/;`);
    assert.ok(lines.includes('add_header Cache-Control immutable;'));
    assert.ok(lines.includes('add_header X-Request-Id $gatehouse_request_id always;'));
    assert.ok(!lines.some((line) => line.startsWith('expires')));
  });

  test('with no route for any host, the default server answers 404', () => {
    const only = renderNginx(configFrom({ routes: [{ host: 'a.test' }] }), { target: 'host' });
    assert.match(
      only,
      /listen 127\.0\.0\.1:8080 default_server;\n {4}server_name _;[\s\S]*?\n {4}return 404;\n\}/,
    );
  });
});
