// Interop tests of ws13's examples against Node's `ws`.
//
// Part 1: `ws` WebSocket as a client of examples/echo_server (or of the firmware in qemu/net,
//         which serves the same).
// Part 2: `ws` WebSocketServer as a server for examples/client.
//
// Environment (set by scripts/interop.sh):
//   WS13_ECHO_URL    ws://127.0.0.1:PORT/ of a running echo server
//   WS13_ECHO_LOG    file receiving the server's log (one line per connection, starting with the
//                    client's address); optional: without it, the tests that drop a connection
//                    check only that the server keeps serving
//   WS13_LOG_HOST    the client's address as the server logs it (default 127.0.0.1; the firmware
//                    behind QEMU's user network sees 10.0.2.2)
//   WS13_CONCURRENT  connections the "several at once" test opens (default 8)
//   WS13_CLIENT      path of the built examples/client binary; optional: without it, part 2 is
//                    skipped
//
// Prints one `ok - NAME` or `FAIL - NAME: DETAILS` line per test and ends with
// `RESULT passed=N failed=M`; exits 1 if anything failed.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WebSocket, WebSocketServer } from './node_modules/ws/wrapper.mjs';

const ECHO_URL = process.env.WS13_ECHO_URL;
const ECHO_LOG = process.env.WS13_ECHO_LOG;
const LOG_HOST = process.env.WS13_LOG_HOST || '127.0.0.1';
const CONCURRENT = Number(process.env.WS13_CONCURRENT || 8);
const CLIENT = process.env.WS13_CLIENT;
if (!ECHO_URL) {
  console.error('WS13_ECHO_URL must be set');
  process.exit(2);
}
const TAG = 'node';

let passed = 0;
const failed = [];

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function test(name, fn) {
  const start = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok - [${TAG}] ${name} (${((Date.now() - start) / 1000).toFixed(2)}s)`);
  } catch (e) {
    failed.push(name);
    console.log(`FAIL - [${TAG}] ${name}: ${e && e.message ? e.message : e}`);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

function payload(n, seed = 0) {
  const out = Buffer.alloc(n);
  let block = Buffer.from([0, 0, 0, seed & 255]);
  for (let i = 0; i < n; i += 32) {
    block = createHash('sha256').update(block).digest();
    block.copy(out, i, 0, Math.min(32, n - i));
  }
  return out;
}

// A client connection with a queue of received messages and events.
class Peer {
  constructor(url, protocols, opts = {}) {
    this.ws = new WebSocket(url, protocols, { maxPayload: 64 * 1024 * 1024, ...opts });
    this.messages = [];
    this.waiters = [];
    this.pongs = [];
    this.ws.on('message', (data, isBinary) => {
      this.messages.push({ data, isBinary });
      this.wake();
    });
    this.ws.on('pong', (data) => {
      this.pongs.push(Buffer.from(data));
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      });
    });
    this.ws.on('error', (e) => {
      this.error = e;
      this.wake();
    });
  }
  wake() {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }
  async until(pred, ms, what) {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (this.error) throw new Error(`socket error while waiting for ${what}: ${this.error.message}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((r) => {
        this.waiters.push(r);
        setTimeout(r, Math.min(left, 200));
      });
    }
  }
  async open() {
    if (this.ws.readyState === WebSocket.OPEN) return;
    await withTimeout(
      new Promise((resolve, reject) => {
        this.ws.once('open', resolve);
        this.ws.once('error', reject);
      }),
      10000,
      'the connection to open',
    );
  }
  async recv(ms = 10000) {
    await this.until(() => this.messages.length > 0, ms, 'a message');
    return this.messages.shift();
  }
}

async function connected(protocols) {
  const p = new Peer(ECHO_URL, protocols);
  await p.open();
  return p;
}

async function closeAndWait(p, code, reason) {
  p.ws.close(code, reason);
  return withTimeout(p.closed, 10000, 'the close handshake');
}

// The server's log line starting with `prefix` (undefined when there is no log to read).
async function waitLogLine(prefix, ms = 10000) {
  if (!ECHO_LOG) return undefined;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const line = readFileSync(ECHO_LOG, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(prefix));
    if (line) return line;
    await sleep(100);
  }
  throw new Error(`the server logged no line starting with '${prefix}' within ${ms} ms`);
}

// ---------------------------------------------------------------------------------------------
// Part 1: ws client -> ws13 echo_server
// ---------------------------------------------------------------------------------------------

await test('client: text message echoed as text', async () => {
  const p = await connected();
  for (const msg of ['hello', '', 'héllo wörld ✓ 😀', 'x'.repeat(70000)]) {
    p.ws.send(msg);
    const got = await p.recv();
    check(!got.isBinary, `sent text of ${msg.length} chars, got binary`);
    check(got.data.toString() === msg, `sent text of ${msg.length} chars, got ${got.data.length} different bytes`);
  }
  await closeAndWait(p, 1000);
});

await test('client: binary message echoed as binary', async () => {
  const p = await connected();
  for (const n of [0, 1, 125, 126, 65535, 65536, 100000]) {
    const data = payload(n, n);
    p.ws.send(data);
    const got = await p.recv();
    check(got.isBinary, `sent ${n} binary bytes, got text`);
    check(Buffer.compare(got.data, data) === 0, `sent ${n} binary bytes, got ${got.data.length} different bytes`);
  }
  await closeAndWait(p, 1000);
});

await test('client: subprotocol ws13.echo selected when offered, none otherwise', async () => {
  const a = await connected(['other', 'ws13.echo']);
  check(a.ws.protocol === 'ws13.echo', `offered [other, ws13.echo], selected '${a.ws.protocol}'`);
  await closeAndWait(a, 1000);
  const b = await connected();
  check(b.ws.protocol === '', `offered none, selected '${b.ws.protocol}'`);
  await closeAndWait(b, 1000);
});

await test('client: fragmented text and binary messages (sent as fragments) echoed whole', async () => {
  const p = await connected();
  const parts = ['frag-one ', '', 'frag-two é', ' ✓ three'.repeat(1000)];
  parts.forEach((part, i) => p.ws.send(part, { binary: false, fin: i === parts.length - 1 }));
  let got = await p.recv();
  check(!got.isBinary && got.data.toString() === parts.join(''), `fragmented text came back as '${got.data.toString().slice(0, 60)}'`);
  // A multi-byte character split across fragments.
  const euro = Buffer.from('€');
  p.ws.send(Buffer.concat([Buffer.from('price: '), euro.subarray(0, 2)]), { binary: false, fin: false });
  p.ws.send(Buffer.concat([euro.subarray(2), Buffer.from(' 10')]), { binary: false, fin: true });
  got = await p.recv();
  check(!got.isBinary && got.data.toString() === 'price: € 10', `split character came back as '${got.data.toString()}'`);
  const chunks = [payload(1000, 1), payload(40000, 2), payload(3, 3)];
  chunks.forEach((c, i) => p.ws.send(c, { binary: true, fin: i === chunks.length - 1 }));
  got = await p.recv();
  check(got.isBinary && Buffer.compare(got.data, Buffer.concat(chunks)) === 0, 'fragmented binary came back different');
  await closeAndWait(p, 1000);
});

await test('client: ping gets a pong with the same payload', async () => {
  const p = await connected();
  for (const data of [Buffer.alloc(0), Buffer.from('ping-1'), payload(125, 7)]) {
    const before = p.pongs.length;
    p.ws.ping(data);
    await p.until(() => p.pongs.length > before, 5000, `a pong for a ${data.length}-byte ping`);
    check(Buffer.compare(p.pongs[before], data) === 0, `pong payload differs from the ping's (${data.length} bytes)`);
  }
  p.ws.send('still alive?');
  check((await p.recv()).data.toString() === 'still alive?', 'echo after pings failed');
  await closeAndWait(p, 1000);
});

await test('client: ping between the fragments of a message (answered, message intact)', async () => {
  const p = await connected();
  p.ws.send('first fragment, ', { binary: false, fin: false });
  p.ws.ping(Buffer.from('between-1'));
  p.ws.send('second fragment, ', { binary: false, fin: false });
  p.ws.ping(Buffer.from('between-2'));
  p.ws.send('last fragment', { binary: false, fin: true });
  const got = await p.recv();
  check(got.data.toString() === 'first fragment, second fragment, last fragment', `message came back as '${got.data}'`);
  await p.until(() => p.pongs.length >= 2, 5000, 'two pongs');
  check(p.pongs.map(String).join(',') === 'between-1,between-2', `pongs: ${p.pongs.map(String)}`);
  await closeAndWait(p, 1000);
});

await test('client: 4 MiB text and binary messages echoed intact', async () => {
  const p = await connected();
  const data = payload(4 * 1024 * 1024, 11);
  p.ws.send(data);
  let got = await p.recv(60000);
  check(got.isBinary && Buffer.compare(got.data, data) === 0, `4 MiB binary came back as ${got.data.length} bytes, different`);
  const text = payload(3 * 1024 * 1024, 12).toString('base64');
  p.ws.send(text);
  got = await p.recv(60000);
  check(!got.isBinary && got.data.toString() === text, `4 MiB text came back as ${got.data.length} bytes, different`);
  await closeAndWait(p, 1000);
});

await test('client: close codes echoed by the server (1000, 1001, 3000, 4000, 4999)', async () => {
  for (const [code, reason] of [[1000, 'done'], [1001, 'going away'], [3000, 'app'], [4000, 'four thousand'], [4999, 'é✓']]) {
    const p = await connected();
    p.ws.send('before close');
    check((await p.recv()).data.toString() === 'before close', 'echo before close failed');
    const closed = await closeAndWait(p, code, reason);
    check(closed.code === code, `sent close ${code} '${reason}', server answered ${closed.code}`);
  }
});

await test('client: close with a reason - code echoed, reason reported', async () => {
  const p = await connected();
  const closed = await closeAndWait(p, 4001, 'please echo this reason');
  check(closed.code === 4001, `server answered ${closed.code}`);
  // RFC 6455 5.5.1 asks only for the status code to be echoed; reported, not judged.
  console.log(`   note: sent close 4001 'please echo this reason', server answered ${closed.code} '${closed.reason}'`);
});

await test('client: many small messages arrive in order', async () => {
  const p = await connected();
  const n = 5000;
  for (let i = 0; i < n; i++) p.ws.send(`m${i}`);
  await p.until(() => p.messages.length >= n, 30000, `${n} echoes`);
  for (let i = 0; i < n; i++) {
    const got = p.messages[i].data.toString();
    check(got === `m${i}`, `message #${i}: expected 'm${i}', got '${got}'`);
  }
  await closeAndWait(p, 1000);
});

await test('client: abrupt TCP drop (FIN, no close frame) - server logs it and keeps serving', async () => {
  const p = await connected();
  p.ws.send('hello before drop');
  check((await p.recv()).data.toString() === 'hello before drop', 'echo before drop failed');
  const port = p.ws._socket.localPort;
  p.ws.terminate();
  const line = await waitLogLine(`${LOG_HOST}:${port}: `);
  console.log(`   server logged: ${line}`);
  const q = await connected();
  q.ws.send('after drop');
  check((await q.recv()).data.toString() === 'after drop', 'no echo on a new connection after the drop');
  await closeAndWait(q, 1000);
});

await test('client: TCP reset in the middle of a fragmented message (1 MiB in) - server logs it and keeps serving', async () => {
  const p = await connected();
  const port = p.ws._socket.localPort;
  p.ws.send(payload(1024 * 1024, 1), { binary: true, fin: false });
  await sleep(200);
  p.ws._socket.resetAndDestroy();
  const line = await waitLogLine(`${LOG_HOST}:${port}: `);
  console.log(`   server logged: ${line}`);
  const q = await connected();
  q.ws.send('after reset');
  check((await q.recv()).data.toString() === 'after reset', 'no echo on a new connection after the reset');
  await closeAndWait(q, 1000);
});

await test(`client: ${CONCURRENT} connections at once, interleaved`, async () => {
  const peers = await Promise.all([...Array(CONCURRENT).keys()].map(() => connected()));
  for (let round = 0; round < 50; round++) peers.forEach((p, i) => p.ws.send(`peer ${i} round ${round}`));
  for (const [i, p] of peers.entries()) {
    await p.until(() => p.messages.length >= 50, 10000, `50 echoes on connection ${i}`);
    p.messages.forEach((m, round) => check(m.data.toString() === `peer ${i} round ${round}`, `connection ${i} got '${m.data}'`));
  }
  await Promise.all(peers.map((p) => closeAndWait(p, 1000)));
});

// ---------------------------------------------------------------------------------------------
// Part 2: ws server <- ws13 examples/client
// ---------------------------------------------------------------------------------------------

async function clientSuite() {
  const results = {};
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024 });
  await new Promise((r) => wss.once('listening', r));
  const base = `ws://127.0.0.1:${wss.address().port}`;

  wss.on('connection', async (ws, req) => {
    const path = req.url;
    ws.on('error', () => {});
    const echo = () => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    if (path === '/echo') echo();
    else if (path === '/welcome') {
      ws.send('welcome');
      echo();
    } else if (path === '/binary') {
      ws.send(payload(70000, 5));
      ws.send(Buffer.alloc(0));
    } else if (path === '/fragmented') {
      ['frag', 'mented ', 'from the ', 'server ✓'].forEach((s, i, a) => ws.send(s, { binary: false, fin: i === a.length - 1 }));
    } else if (path === '/big') {
      ws.send(payload(4 * 1024 * 1024, 21));
      ws.send('z'.repeat(4 * 1024 * 1024));
    } else if (path === '/close') {
      ws.once('message', () => ws.close(4003, 'node says bye'));
    } else if (path === '/drop') {
      ws.send('about to drop');
      setTimeout(() => ws._socket.destroy(), 300);
    } else if (path === '/reset') {
      ws.send('about to reset');
      setTimeout(() => ws._socket.resetAndDestroy(), 300);
    } else if (path === '/ping') {
      const got = [];
      results['/ping'] = got;
      // Messages that arrive while waiting for the pongs are held, then echoed after 'pinged'.
      const held = [];
      let ready = false;
      ws.on('message', (data, isBinary) => (ready ? ws.send(data, { binary: isBinary }) : held.push([data, isBinary])));
      ws.on('pong', (d) => got.push(Buffer.from(d).toString('hex')));
      for (const d of [Buffer.from('server-ping-1'), Buffer.alloc(0), payload(125, 9)]) ws.ping(d);
      const deadline = Date.now() + 5000;
      while (got.length < 3 && Date.now() < deadline) await sleep(20);
      ws.send('pinged');
      held.forEach(([data, isBinary]) => ws.send(data, { binary: isBinary }));
      ready = true;
    }
  });

  // Runs examples/client on url, writes lines to its stdin. hold: a number of stdout lines to
  // wait for (up to 10 s) before closing stdin, or 'open' to keep stdin open until it exits.
  function runClient(url, lines, hold = 0, ms = 20000) {
    return new Promise((resolve) => {
      const child = spawn(CLIENT, [url], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let killed = false;
      const outLines = () => out.split('\n').slice(0, -1);
      const closeStdin = () => child.stdin.end();
      child.stdin.on('error', () => {});
      child.stdout.on('data', (d) => {
        out += d;
        if (typeof hold === 'number' && hold > 0 && outLines().length >= hold) closeStdin();
      });
      child.stderr.on('data', (d) => (err += d));
      child.stdin.write(lines.map((l) => l + '\n').join(''));
      if (hold === 0) closeStdin();
      else if (typeof hold === 'number') setTimeout(closeStdin, 10000);
      const timer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, ms);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ rc: killed ? null : code, out: outLines(), err: err.trim() });
      });
    });
  }

  await test('ws server <- client: lines echoed back in order, exit 0', async () => {
    const lines = ['hello', '', 'héllo wörld ✓ 😀', 'y'.repeat(100000)];
    for (let i = 0; i < 200; i++) lines.push(`line ${i}`);
    const { rc, out, err } = await runClient(`${base}/echo`, lines, lines.length);
    check(rc === 0, `client exited ${rc}, stderr: '${err}'`);
    const diff = out.findIndex((l, i) => l !== lines[i]);
    check(out.length === lines.length && diff < 0, `stdout differs: ${out.length} lines, first difference at ${diff}`);
  });

  await test('ws server <- client: message sent right after the 101 is printed', async () => {
    const { rc, out, err } = await runClient(`${base}/welcome`, ['hi'], 2);
    check(rc === 0, `client exited ${rc}, stderr: '${err}'`);
    check(JSON.stringify(out) === JSON.stringify(['welcome', 'hi']), `stdout was ${JSON.stringify(out)}`);
  });

  await test('ws server <- client: binary messages printed as [binary N bytes]', async () => {
    const { rc, out, err } = await runClient(`${base}/binary`, [], 2);
    check(rc === 0, `client exited ${rc}, stderr: '${err}'`);
    check(JSON.stringify(out) === JSON.stringify(['[binary 70000 bytes]', '[binary 0 bytes]']), `stdout was ${JSON.stringify(out)}`);
  });

  await test('ws server <- client: fragmented text from the server printed as one line', async () => {
    const { rc, out, err } = await runClient(`${base}/fragmented`, [], 1);
    check(rc === 0, `client exited ${rc}, stderr: '${err}'`);
    check(JSON.stringify(out) === JSON.stringify(['fragmented from the server ✓']), `stdout was ${JSON.stringify(out)}`);
  });

  await test('ws server <- client: 4 MiB binary and 4 MiB text from the server', async () => {
    const { rc, out, err } = await runClient(`${base}/big`, [], 2, 60000);
    check(rc === 0, `client exited ${rc}, stderr: '${err}'`);
    check(out.length === 2, `${out.length} stdout lines, expected 2`);
    check(out[0] === '[binary 4194304 bytes]', `first line '${out[0].slice(0, 80)}'`);
    check(out[1] === 'z'.repeat(4 * 1024 * 1024), `second line has ${out[1].length} chars, expected 4194304 'z'`);
  });

  await test('ws server <- client: server closes with 4003 -> client reports it, exits 1', async () => {
    const { rc, err } = await runClient(`${base}/close`, ['first'], 'open', 15000);
    check(rc !== null, 'client did not exit within 15 s after the server closed');
    check(rc === 1, `client exited ${rc}, stderr: '${err}'`);
    check(err.includes('server closed the connection: 4003 node says bye'), `stderr was '${err}'`);
  });

  await test('ws server <- client: server drops TCP (FIN) -> client exits non-zero, no hang', async () => {
    const { rc, out, err } = await runClient(`${base}/drop`, [], 'open', 15000);
    check(rc !== null, 'client still running 15 s after the server dropped the connection');
    check(rc !== 0, `client exited 0, stdout ${JSON.stringify(out)}`);
    check(err !== '', 'client printed nothing on stderr');
    check(JSON.stringify(out) === JSON.stringify(['about to drop']), `stdout was ${JSON.stringify(out)}`);
    console.log(`   client said: ${err}`);
  });

  await test('ws server <- client: server resets TCP (RST) -> client exits non-zero, no hang', async () => {
    const { rc, out, err } = await runClient(`${base}/reset`, [], 'open', 15000);
    check(rc !== null, 'client still running 15 s after the server reset the connection');
    check(rc !== 0, `client exited 0, stdout ${JSON.stringify(out)}`);
    check(err !== '', 'client printed nothing on stderr');
    console.log(`   client said: ${err}`);
  });

  await test("ws server <- client: server's pings are answered with pongs", async () => {
    const { rc, out, err } = await runClient(`${base}/ping`, ['after pings'], 2);
    check(rc === 0, `client exited ${rc}, stderr: '${err}'`);
    const want = [Buffer.from('server-ping-1'), Buffer.alloc(0), payload(125, 9)].map((b) => b.toString('hex'));
    check(JSON.stringify(results['/ping']) === JSON.stringify(want), `pongs received by the server: ${JSON.stringify(results['/ping'])}`);
    check(JSON.stringify(out) === JSON.stringify(['pinged', 'after pings']), `stdout was ${JSON.stringify(out)}`);
  });

  wss.clients.forEach((c) => c.terminate());
  wss.close();
}

if (CLIENT) await clientSuite();
else console.log('   note: WS13_CLIENT not set: part 2 (servers for examples/client) skipped');

console.log(`RESULT passed=${passed} failed=${failed.length}`);
process.exit(failed.length ? 1 : 0);
