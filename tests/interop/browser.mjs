// Browser interop test: Debian's Chromium, driven by playwright-core, against examples/echo_server.
//
// Environment (set by scripts/interop.sh):
//   WS13_HTTP_URL    http://127.0.0.1:PORT/ of a running echo_server, or https://localhost:PORT/
//                    of a running wss_echo_server (INTEROP_TARGET=wss): the page over https, its
//                    sockets over wss
//   WS13_CERT        with https: the server's certificate (PEM, first in the file); Chromium is
//                    told to accept it, and only it, by its key's hash
//                    (--ignore-certificate-errors-spki-list)
//   WS13_SCREENSHOT  where to save a screenshot of the page (PNG)
//   CHROMIUM         browser executable (default /usr/bin/chromium)
//
// Prints one `ok - NAME` or `FAIL - NAME: DETAILS` line per test and ends with
// `RESULT passed=N failed=M`; exits 1 if anything failed.

import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chromium } from './node_modules/playwright-core/index.mjs';

const HTTP_URL = process.env.WS13_HTTP_URL;
const SCREENSHOT = process.env.WS13_SCREENSHOT || 'target/interop/echo_page.png';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!HTTP_URL) {
  console.error('WS13_HTTP_URL must be set');
  process.exit(2);
}
const WS_URL = HTTP_URL.replace(/^http/, 'ws');
const TLS = HTTP_URL.startsWith('https:');
const TAG = TLS ? 'browser-wss' : 'browser';

// Over TLS: the base64 SHA-256 of the server certificate's public key (its
// SubjectPublicKeyInfo), the form Chromium's --ignore-certificate-errors-spki-list takes.
const tlsArgs = [];
if (TLS) {
  if (!process.env.WS13_CERT) {
    console.error('WS13_CERT must be set for an https URL');
    process.exit(2);
  }
  const cert = new X509Certificate(readFileSync(process.env.WS13_CERT));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  const hash = createHash('sha256').update(spki).digest('base64');
  console.log(`   accepting the certificate for ${cert.subjectAltName} by its key: ${hash}`);
  tlsArgs.push(`--ignore-certificate-errors-spki-list=${hash}`);
}

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
    console.log(`FAIL - [${TAG}] ${name}: ${e && e.message ? e.message.split('\n')[0] : e}`);
  }
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  timeout: 60000,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    ...tlsArgs,
  ],
});
let exitCode = 1;
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  page.setDefaultTimeout(15000);
  const consoleErrors = [];
  // The browser's own request for /favicon.ico gets the server's 404: not an error of the page.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/\/favicon\.ico$/.test(m.location().url || '')) consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  await test('page loads and its socket connects with subprotocol ws13.echo', async () => {
    const resp = await page.goto(HTTP_URL);
    check(resp.status() === 200, `GET / answered ${resp.status()}`);
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('connected'));
    const status = await page.textContent('#status');
    check(status === 'connected (subprotocol: ws13.echo)', `#status says '${status}'`);
    check(await page.evaluate(() => window.ws.protocol) === 'ws13.echo', 'window.ws.protocol is not ws13.echo');
    const url = await page.evaluate(() => window.ws.url);
    check(url === WS_URL, `the page's socket is on ${url}, not ${WS_URL}`);
  });

  if (TLS) {
    await test('the page came over https and its socket is wss, with a TLS 1.3 or 1.2 connection', async () => {
      const resp = await page.goto(HTTP_URL);
      const security = await resp.securityDetails();
      check(security, 'no TLS on the page\'s response');
      check(/^TLS 1\.[23]$/.test(security.protocol), `protocol ${security.protocol}`);
      console.log(`   ${security.protocol}, certificate for ${security.subjectName} from ${security.issuer}`);
      await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('connected'));
      check((await page.evaluate(() => window.ws.url)).startsWith('wss://'), 'the page did not open wss://');
    });
  }

  await test('a person types into #text and clicks #send: the echo appears in #log', async () => {
    for (const msg of ['hello from a person', 'ünïcödé ✓ 😀']) {
      await page.click('#text');
      await page.keyboard.type(msg, { delay: 10 });
      await page.click('#send');
      await page.waitForFunction(
        (m) => [...document.querySelectorAll('#log div')].some((d) => d.textContent === '← ' + m),
        msg,
      );
      check((await page.inputValue('#text')) === '', '#text was not cleared after sending');
    }
    const lines = await page.$$eval('#log div', (ds) => ds.map((d) => d.textContent));
    check(
      JSON.stringify(lines) ===
        JSON.stringify(['→ hello from a person', '← hello from a person', '→ ünïcödé ✓ 😀', '← ünïcödé ✓ 😀']),
      `#log has ${JSON.stringify(lines)}`,
    );
    await page.fill('#text', 'pressing Enter works too');
    await page.press('#text', 'Enter');
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#log div')].some((d) => d.textContent === '← pressing Enter works too'),
    );
  });

  await test('screenshot of the page', async () => {
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`   saved ${SCREENSHOT}`);
  });

  // Helpers defined in the page for the scripted tests below.
  await page.evaluate(() => {
    window.t = {
      open(url, protocols) {
        return new Promise((resolve, reject) => {
          const ws = protocols === undefined ? new WebSocket(url) : new WebSocket(url, protocols);
          ws.binaryType = 'arraybuffer';
          ws.queue = [];
          ws.waiting = null;
          ws.onmessage = (e) => {
            ws.queue.push(e.data);
            if (ws.waiting) ws.waiting();
          };
          ws.closed = new Promise((r) => (ws.onclose = (e) => r({ code: e.code, reason: e.reason, wasClean: e.wasClean })));
          ws.onopen = () => resolve(ws);
          ws.onerror = () => reject(new Error('WebSocket error before open'));
        });
      },
      next(ws, ms = 10000) {
        return new Promise((resolve, reject) => {
          const done = () => {
            if (ws.queue.length) {
              ws.waiting = null;
              clearTimeout(timer);
              resolve(ws.queue.shift());
            }
          };
          const timer = setTimeout(() => reject(new Error('no message within ' + ms + ' ms')), ms);
          ws.waiting = done;
          done();
        });
      },
      bytes(n, seed) {
        const a = new Uint8Array(n);
        let x = seed * 2654435761 + 1;
        for (let i = 0; i < n; i++) {
          x = (x * 1103515245 + 12345) >>> 0;
          a[i] = x >>> 24;
        }
        return a;
      },
      same(a, b) {
        if (a.byteLength !== b.byteLength) return false;
        const x = new Uint8Array(a);
        const y = new Uint8Array(b);
        for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
        return true;
      },
    };
  });

  const inPage = (fn, arg) => page.evaluate(fn, { url: WS_URL, ...arg });

  await test('page JS: text echo', async () => {
    const r = await inPage(async ({ url }) => {
      const ws = await t.open(url);
      const out = [];
      for (const m of ['hello', '', 'héllo ✓ 😀', 'x'.repeat(70000)]) {
        ws.send(m);
        const got = await t.next(ws);
        out.push(typeof got === 'string' && got === m);
      }
      ws.close(1000);
      await ws.closed;
      return out;
    });
    check(r.every(Boolean), `echoes matched: ${JSON.stringify(r)}`);
  });

  await test('page JS: binary echo (binaryType arraybuffer)', async () => {
    const r = await inPage(async ({ url }) => {
      const ws = await t.open(url);
      const out = [];
      for (const n of [0, 1, 125, 126, 65535, 65536, 100000]) {
        const data = t.bytes(n, n);
        ws.send(data);
        const got = await t.next(ws);
        out.push(got instanceof ArrayBuffer && t.same(got, data.buffer) ? 'ok' : `bad ${n}: ${typeof got} ${got.byteLength}`);
      }
      ws.close(1000);
      await ws.closed;
      return out;
    });
    check(r.every((x) => x === 'ok'), JSON.stringify(r));
  });

  await test('page JS: 1 MiB binary and 1 MiB text messages echoed intact', async () => {
    const r = await inPage(async ({ url }) => {
      const ws = await t.open(url);
      const data = t.bytes(1024 * 1024, 42);
      ws.send(data);
      const got = await t.next(ws, 30000);
      const bin = got instanceof ArrayBuffer && t.same(got, data.buffer);
      let text = '';
      for (let i = 0; text.length < 1024 * 1024; i++) text += `${i} é ✓ `;
      text = text.slice(0, 1024 * 1024);
      ws.send(text);
      const gotText = await t.next(ws, 30000);
      ws.close(1000);
      await ws.closed;
      return { bin, text: gotText === text, len: typeof gotText === 'string' ? gotText.length : -1 };
    });
    check(r.bin, '1 MiB binary came back different');
    check(r.text, `1 MiB text came back different (${r.len} chars)`);
  });

  await test("page JS: subprotocol: ['ws13.echo'] -> 'ws13.echo', none offered -> ''", async () => {
    const r = await inPage(async ({ url }) => {
      const a = await t.open(url, ['ws13.echo']);
      const b = await t.open(url);
      const c = await t.open(url, ['something-else', 'ws13.echo']);
      const out = [a.protocol, b.protocol, c.protocol];
      [a, b, c].forEach((w) => w.close(1000));
      return out;
    });
    check(JSON.stringify(r) === JSON.stringify(['ws13.echo', '', 'ws13.echo']), `protocols: ${JSON.stringify(r)}`);
  });

  await test('page JS: close(4000..4999, reason) -> close event with that code, wasClean', async () => {
    const r = await inPage(async ({ url }) => {
      const out = [];
      for (const code of [4000, 4321, 4999]) {
        const ws = await t.open(url);
        ws.send('bye soon');
        await t.next(ws);
        ws.close(code, `reason for ${code} ✓`);
        out.push({ sent: code, ...(await ws.closed) });
      }
      return out;
    });
    for (const e of r) {
      check(e.code === e.sent && e.wasClean, `close(${e.sent}) -> close event ${JSON.stringify(e)}`);
    }
    console.log(`   close events: ${JSON.stringify(r)}`);
  });

  await test('page JS: 5000 small messages arrive in order', async () => {
    const r = await inPage(async ({ url }) => {
      const ws = await t.open(url);
      const n = 5000;
      const got = [];
      const all = new Promise((resolve) => {
        ws.onmessage = (e) => {
          got.push(e.data);
          if (got.length === n) resolve();
        };
      });
      for (let i = 0; i < n; i++) ws.send(`m${i}`);
      await Promise.race([all, new Promise((r) => setTimeout(r, 30000))]);
      const bad = got.findIndex((m, i) => m !== `m${i}`);
      ws.close(1000);
      return { count: got.length, bad, at: bad >= 0 ? got[bad] : null };
    });
    check(r.count === 5000, `${r.count} of 5000 messages arrived`);
    check(r.bad < 0, `message #${r.bad} was '${r.at}'`);
  });

  await test("the page's own socket: window.ws.close(4000, reason) -> #status shows a clean close 4000", async () => {
    await page.evaluate(() => window.ws.close(4000, 'page done'));
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('closed'));
    const status = await page.textContent('#status');
    check(/^closed: 4000\b.*\(clean\)$/.test(status), `#status says '${status}'`);
  });

  await test('no errors in the page console', async () => {
    check(consoleErrors.length === 0, `console errors: ${JSON.stringify(consoleErrors)}`);
  });
  exitCode = failed.length ? 1 : 0;
} finally {
  await browser.close();
}
console.log(`RESULT passed=${passed} failed=${failed.length}`);
process.exit(exitCode);
