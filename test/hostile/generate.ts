import { inputRandom, type Random } from './random.js';

/**
 * Hostile HTTP/1.x inputs, one per (seed, index): the families of issue 15 item 1. Each input
 * names the requests smuggled inside it (path /smuggled/<index>-<k>): the recording backend says
 * whether one reached a worker, the client's answers whether the proxy answered it as its own.
 */
export interface HostileInput {
  index: number;
  family: string;
  /** Written one after another, each as its own write. */
  parts: Buffer[];
  /** Paths of requests hidden in another request's body or framing. */
  smuggled: string[];
  /** How many answers must be 200: the input was valid after all (plain or pipelined requests). */
  valid: number;
  /**
   * After the last write: `half-close` sends a FIN (a client gone: the proxy may drop its requests
   * unanswered, as nginx does); `wait` keeps the connection open until the proxy closes it or has
   * answered every valid request — its timeouts end what it is still waiting for.
   */
  end: 'half-close' | 'wait';
}

const HOST = 'Host: fuzz.test';

/** What a family builds; the generator adds the index, splits it into writes and picks how it ends. */
interface Draft {
  text: string | Buffer;
  valid?: number;
}

/** The context a family builds with: its random stream and the input's own paths. */
interface Make {
  r: Random;
  /** A path of this input's own, /fuzz/<index>-<k>. */
  path(): string;
  /** A request to hide in a body, GET /smuggled/<index>-<k>; its path is recorded. */
  smuggle(): string;
}

const head = (...lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;

function validRequest(m: Make): string {
  const body = 'b'.repeat(m.r.int(40));
  switch (m.r.int(4)) {
    case 0:
      return head(`POST ${m.path()} HTTP/1.1`, HOST, `Content-Length: ${body.length}`) + body;
    case 1:
      return head(`PUT ${m.path()} HTTP/1.1`, HOST, 'Transfer-Encoding: chunked') + chunked(m.r, body);
    case 2:
      return head(`DELETE ${m.path()} HTTP/1.1`, HOST, 'X-Fuzz: 1');
    default:
      return head(`GET ${m.path()}?q=${m.r.int(1000)} HTTP/1.1`, HOST, 'Accept: */*');
  }
}

function chunked(r: Random, body: string): string {
  let out = '';
  for (let at = 0; at < body.length; ) {
    const size = Math.min(body.length - at, r.between(1, 16));
    out += `${size.toString(16)}\r\n${body.slice(at, at + size)}\r\n`;
    at += size;
  }
  return `${out}0\r\n\r\n`;
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
const BAD_METHODS = [
  'get',
  'G ET',
  'GET\t',
  'FOO',
  'GETT',
  'POS',
  '',
  ' GET',
  'G\u0000T',
  'GE\rT',
  'X'.repeat(300),
  '\u00e9GET',
  'BREW',
];

const families: Record<string, (m: Make) => Draft> = {
  valid: (m) => ({ text: validRequest(m), valid: 1 }),

  pipelined: (m) => {
    const n = m.r.between(2, 5);
    const text = Array.from({ length: n }, () => validRequest(m)).join('');
    if (m.r.chance(0.3)) return { text: `${text}GARBAGE / HTTP/1.1\r\n\r\n${m.smuggle()}` };
    return { text, valid: n };
  },

  requestLine: (m) => {
    const p = m.path();
    return {
      text: m.r.pick([
        `${m.r.pick(BAD_METHODS)} ${p} HTTP/1.1\r\n${HOST}\r\n\r\n`,
        `GET ${p} HTTP/${m.r.pick(['9.9', '1.2', '2.0', '0.9', '1', '1.1.1', 'x.y'])}\r\n${HOST}\r\n\r\n`,
        `GET ${p}\r\n${HOST}\r\n\r\n`,
        `GET  ${p}  HTTP/1.1\r\n${HOST}\r\n\r\n`,
        `GET ${p} HTTP/1.1 extra\r\n${HOST}\r\n\r\n`,
        `GET ${p}${m.r.pick(['\u0000', '\u0001', ' x', '\u007f', '\t', '#frag'])} HTTP/1.1\r\n${HOST}\r\n\r\n`,
        `GET fuzz${p} HTTP/1.1\r\n${HOST}\r\n\r\n`,
        `${m.r.pick(METHODS)} * HTTP/1.1\r\n${HOST}\r\n\r\n`,
        `GET http://${m.r.pick(['a.example', 'fuzz.test', '127.0.0.1:1', 'user@x'])}${p} HTTP/1.1\r\n${HOST}\r\n\r\n`,
        `CONNECT ${m.r.pick(['127.0.0.1:22', 'a.example:443', p])} HTTP/1.1\r\n${HOST}\r\n\r\n`,
        `GET /${'a'.repeat(m.r.between(8_000, 40_000))} HTTP/1.1\r\n${HOST}\r\n\r\n`,
        `\r\n\r\nGET ${p} HTTP/1.1\r\n${HOST}\r\n\r\n`,
        `GET ${p} HTTP/1.1\r\n\r\n`,
      ]),
    };
  },

  headers: (m) => {
    const line = `GET ${m.path()} HTTP/1.1`;
    const smuggled = m.smuggle();
    return {
      text: m.r.pick([
        head(line, HOST, `X-Huge: ${'h'.repeat(m.r.between(10_000, 70_000))}`),
        head(line, HOST, ...Array.from({ length: m.r.between(100, 3000) }, (_, i) => `X-N${i}: v`)),
        head(line, HOST, 'X-Fold: a', ` folded${m.r.pick(['', `\r\n${smuggled}`])}`),
        head(line, HOST, `X-Nul: a\u0000b`),
        head(line, HOST, `X-Cr: a\rb`, 'X-After: 1'),
        `${line}\n${HOST}\nX-Lf: 1\n\n`,
        `${line}\r\n${HOST}\nX-Mixed: 1\r\n\r\n`,
        head(line, HOST, 'No colon here'),
        head(line, HOST, 'X-Space : 1'),
        head(line, HOST, ': empty name'),
        head(line, HOST, `X-${m.r.pick(['(', '"', '/', '@', '\u00ff', '{'])}: 1`),
        head(line, HOST, `X-Ctl: ${m.r.pick(['\u0001', '\u001f', '\u007f'])}`),
        head(line, HOST, HOST.replace('fuzz', 'other')),
        head(line, `Host: ${m.r.pick(['', 'a b', 'a/b', '[::1', 'a\u0000'])}`),
        head(line, HOST, `Content-Length: 0\r\n${smuggled.trimEnd()}`),
      ]),
    };
  },

  framing: (m) => {
    const smuggled = m.smuggle();
    const post = `POST ${m.path()} HTTP/1.1`;
    const te = m.r.pick([
      'Transfer-Encoding: chunked, identity',
      'Transfer-Encoding: identity, chunked',
      'Transfer-Encoding: identity',
      'Transfer-Encoding: gzip',
      'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
      'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity',
      'Transfer-Encoding : chunked',
      'Transfer-Encoding:\tchunked',
      'Transfer-Encoding: \u000bchunked',
      'Transfer-Encoding: xchunked',
      'Transfer-Encoding: chunked ',
      'Transfer-Encoding: CHUNKED',
      'Transfer-Encoding: "chunked"',
      ' Transfer-Encoding: chunked',
      'Transfer-Encoding:\r\n chunked',
      'Transfer_Encoding: chunked',
      'Transfer-Encoding: chunked',
    ]);
    const cl = m.r.pick([
      'Content-Length: 5',
      'Content-Length: 5\r\nContent-Length: 6',
      'Content-Length: 5\r\nContent-Length: 5',
      'Content-Length: 5, 6',
      'Content-Length: 5, 5',
      'Content-Length: +5',
      'Content-Length: -1',
      'Content-Length: 0x5',
      'Content-Length: 5 ',
      'Content-Length:  5',
      'Content-Length: 5 5',
      'Content-Length: 99999999999999999999',
      ' Content-Length: 5',
      'Content-Length : 5',
      'Content-Length: 0',
      '',
    ]);
    const zero = '0\r\n\r\n';
    const body = m.r.pick([
      `${zero}${smuggled}`,
      `5\r\nhello\r\n${zero}${smuggled}`,
      `hello${smuggled}`,
      `${smuggled.length.toString(16)}\r\n${smuggled}\r\n${zero}`,
      smuggled,
    ]);
    const lines = [post, HOST, ...(m.r.chance(0.5) ? [te, cl] : [cl, te])].filter((l) => l !== '');
    return { text: head(...lines) + body };
  },

  chunks: (m) => {
    const smuggled = m.smuggle();
    const size = m.r.pick([
      'zz',
      '-1',
      '0x5',
      ' 5',
      '5 ',
      '5;',
      '5;ext',
      '5;a=b;c="d"',
      `5;${'e'.repeat(m.r.between(100, 20_000))}`,
      '5;ext=\u0000',
      'ffffffffffffffffff',
      '000000000000000000005',
      '5\n',
      '',
      '5\r\r',
    ]);
    const tail = m.r.pick([
      `0\r\n\r\n${smuggled}`,
      '0\r\n\r\n',
      `0\r\nX-Trailer: ${'t'}\r\n\r\n${smuggled}`,
      '',
    ]);
    const text =
      head(`POST ${m.path()} HTTP/1.1`, HOST, 'Transfer-Encoding: chunked') +
      m.r.pick([
        `${size}\r\nhello\r\n${tail}`,
        `5\r\nhelloXX\r\n${tail}`,
        `5\r\nhel`,
        `${size}\r\nhello${tail}`,
      ]);
    return { text };
  },

  truncated: (m) => {
    const declared = m.r.between(10, 5000);
    const sent = m.r.int(declared);
    const smuggled = m.smuggle();
    return {
      text: m.r.pick([
        head(`POST ${m.path()} HTTP/1.1`, HOST, `Content-Length: ${declared}`) + 'x'.repeat(sent),
        head(`POST ${m.path()} HTTP/1.1`, HOST, `Content-Length: ${declared + smuggled.length}`) + smuggled,
        `${head(`POST ${m.path()} HTTP/1.1`, HOST, 'Transfer-Encoding: chunked')}a\r\n0123`,
        `POST ${m.path()} HTTP/1.1\r\n${HOST}\r\nContent-Le`,
        `GET ${m.path()} HT`,
      ]),
    };
  },

  expect: (m) => {
    const length = m.r.pick([3, 100, 5 * 1024 * 1024]);
    const lines = [`POST ${m.path()} HTTP/1.1`, HOST, `Content-Length: ${length}`];
    const expect = m.r.pick([
      'Expect: 100-continue',
      'Expect: 100-Continue',
      'Expect: 200-ok',
      'Expect: 100-continue, x',
    ]);
    const body = m.r.pick(['', 'abc', 'x'.repeat(Math.min(length, 200))]);
    return { text: head(...lines, expect) + body };
  },

  upgrade: (m) => {
    const line = `GET ${m.path()} HTTP/1.1`;
    return {
      text: m.r.pick([
        'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
        Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), m.r.bytes(m.r.between(9, 200))]),
        head(
          line,
          HOST,
          'Connection: Upgrade, HTTP2-Settings',
          'Upgrade: h2c',
          'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA',
        ),
        head(`POST ${m.path()} HTTP/1.1`, HOST, 'Connection: Upgrade', 'Upgrade: h2c', 'Content-Length: 3') +
          'abc',
        head(line, HOST, 'Connection: Upgrade', 'Upgrade: websocket'),
        head(line, HOST, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13'),
        head(line, HOST, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Key: !!'),
        head(line, HOST, 'Upgrade: websocket'),
      ]),
    };
  },

  random: (m) => ({ text: m.r.bytes(m.r.between(1, 3000)) }),

  /** A valid request (or one smuggling) with a few bytes flipped, inserted or cut. */
  mutated: (m) => {
    const base = m.r.chance(0.5) ? families.framing!(m) : { text: validRequest(m) };
    const bytes = Buffer.from(base.text as string, 'latin1');
    const parts: Buffer[] = [];
    let at = 0;
    for (let n = m.r.between(1, 4); n > 0; n--) {
      const cut = m.r.between(at, bytes.length);
      parts.push(bytes.subarray(at, cut));
      at = cut;
      const op = m.r.int(3);
      if (op === 0) parts.push(Buffer.from([m.r.pick([0, 10, 13, 32, 9, 58, 255, m.r.int(256)])]));
      else if (op === 1) at = Math.min(bytes.length, at + m.r.between(1, 3));
      else parts.push(Buffer.from(m.r.pick(['\r\n', '\n', '\r', ':', ' ', ',', ';', '0'])));
    }
    parts.push(bytes.subarray(at));
    return { text: Buffer.concat(parts) };
  },
};

/** How often each family comes up: the ones aimed at framing and desync most. */
const WEIGHTS: Array<[string, number]> = [
  ['valid', 6],
  ['pipelined', 8],
  ['requestLine', 10],
  ['headers', 10],
  ['framing', 22],
  ['chunks', 12],
  ['truncated', 6],
  ['expect', 5],
  ['upgrade', 5],
  ['random', 4],
  ['mutated', 12],
];
const TOTAL = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);

function pickFamily(roll: number): string {
  let left = roll;
  for (const [name, weight] of WEIGHTS) {
    if (left < weight) return name;
    left -= weight;
  }
  return WEIGHTS[0]![0];
}

/** Input `index` of the run seeded `seed`: the same bytes every time. */
export function generate(seed: number, index: number): HostileInput {
  const r = inputRandom(seed, index);
  let own = 0;
  let hidden = 0;
  const smuggledPaths: string[] = [];
  const make: Make = {
    r,
    path: () => `/fuzz/${index}-${own++}`,
    smuggle() {
      const path = `/smuggled/${index}-${hidden++}`;
      smuggledPaths.push(path);
      return head(`GET ${path} HTTP/1.1`, HOST);
    },
  };
  const family = pickFamily(r.int(TOTAL));
  const draft = families[family]!(make);
  const bytes = typeof draft.text === 'string' ? Buffer.from(draft.text, 'latin1') : draft.text;
  // Split into up to three writes: the parser must hold its state across reads.
  const parts: Buffer[] = [];
  let at = 0;
  for (let n = r.int(3); n > 0 && at < bytes.length; n--) {
    const cut = r.between(at + 1, bytes.length);
    parts.push(bytes.subarray(at, cut));
    at = cut;
  }
  if (at < bytes.length) parts.push(bytes.subarray(at));
  // Every smuggled path, made or not: mutation can move one out of a body, never invent one.
  const valid = draft.valid ?? 0;
  // Never half-closed when it holds valid or smuggled requests: a client that sent a FIN may be
  // treated as gone (nginx does), and its pipelined requests answered to no one.
  // The smuggled paths the bytes still hold (a mutation may have cut one).
  const smuggled = smuggledPaths.filter((path) => bytes.includes(path));
  const end = valid === 0 && smuggled.length === 0 && r.chance(0.5) ? 'half-close' : 'wait';
  return { index, family, parts, smuggled: smuggledPaths, valid, end };
}

/** An input as a one-line, replayable description for a failure message. */
export function describeInput(seed: number, input: HostileInput, max = 400): string {
  const text = JSON.stringify(Buffer.concat(input.parts).toString('latin1'));
  const shown = text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
  return `seed ${seed} index ${input.index} (${input.family}${input.end === 'half-close' ? ', half-closed' : ''}): ${shown}`;
}
