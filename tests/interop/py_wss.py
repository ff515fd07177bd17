#!/usr/bin/env python3
"""Interop tests of ws13 over TLS (wss://, https://) against Python's `ssl` and `websockets`.

Part 1: clients of examples/wss_echo_server, trusting its test CA (an `ssl` context with
        `cafile`, hostname checked): the page over https, echoes of every kind, a clean
        close down to TLS's close_notify and a TCP close without a reset, and a client
        stalled inside its TLS handshake let go at the server's deadline.
Part 2: a `websockets` wss server (the same certificate and key) for examples/wss_client.

Environment (set by scripts/interop.sh with INTEROP_TARGET=wss):
  WS13_ECHO_URL   wss://localhost:PORT/ of a running wss_echo_server
  WS13_HTTP_URL   https://localhost:PORT/, the same server
  WS13_CA         the test CA's certificate (PEM)
  WS13_CERT       the server's certificate chain (PEM); WS13_KEY its key (PEM)
  WS13_ECHO_LOG   the server's log (one line per connection, starting with the client's address)
  WS13_CLIENT     path of the built examples/wss_client; optional: without it, part 2 is skipped

Prints one `ok - NAME` or `FAIL - NAME: DETAILS` line per test and ends with
`RESULT passed=N failed=M`; exits 1 if anything failed.
"""

import base64
import hashlib
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import warnings
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import serve

ECHO_URL = os.environ["WS13_ECHO_URL"]
HTTP_URL = os.environ["WS13_HTTP_URL"]
CA = os.environ["WS13_CA"]
CERT = os.environ.get("WS13_CERT")
KEY = os.environ.get("WS13_KEY")
ECHO_LOG = os.environ.get("WS13_ECHO_LOG")
CLIENT = os.environ.get("WS13_CLIENT")
HOST = urlsplit(ECHO_URL).hostname
PORT = urlsplit(ECHO_URL).port
TAG = "python-wss"
# Some tests hold a connection outside a `with` block on purpose (to drop it abruptly).
warnings.simplefilter("ignore", DeprecationWarning)
# The server's handshake deadline (examples/shared/echo.rs).
DEADLINE = 10

PASSED = 0
FAILED = []


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def test(name):
    def wrap(fn):
        global PASSED
        start = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported
            detail = f"{type(e).__name__}: {e}" if not isinstance(e, AssertionError) else str(e)
            print(f"FAIL - [{TAG}] {name}: {detail}", flush=True)
            if not isinstance(e, AssertionError):
                traceback.print_exc(file=sys.stdout)
            FAILED.append(name)
        else:
            PASSED += 1
            print(f"ok - [{TAG}] {name} ({time.monotonic() - start:.2f}s)", flush=True)
        return fn

    return wrap


def client_context():
    """Trusts the test CA only, and checks the host name (ssl's defaults)."""
    ctx = ssl.create_default_context(cafile=CA)
    check(ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname, "context does not verify")
    return ctx


def ws_connect(**kw):
    kw.setdefault("open_timeout", 10)
    kw.setdefault("close_timeout", 10)
    kw.setdefault("max_size", 64 * 1024 * 1024)
    return connect(ECHO_URL, ssl=client_context(), **kw)


def payload(n, seed=0):
    out = bytearray()
    block = seed.to_bytes(4, "big")
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


def wait_log_line(prefix, timeout=10):
    if not ECHO_LOG:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(ECHO_LOG, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(prefix):
                    return line.rstrip("\n")
        time.sleep(0.1)
    raise AssertionError(f"the server logged no line starting with {prefix!r} within {timeout}s")


# ----------------------------------------------------------------------------------------------
# A client stalled in its TLS handshake: opened first, checked last (the deadline is 10 s).
# ----------------------------------------------------------------------------------------------


def half_a_client_hello():
    """The first half of a real ClientHello, as Python's ssl would send it."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context().wrap_bio(incoming, outgoing, server_hostname=HOST)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    check(len(hello) > 100 and hello[0] == 0x16, f"not a ClientHello: {hello[:8]!r}")
    return hello[: len(hello) // 2]


STALLED = socket.create_connection(("127.0.0.1", PORT), timeout=DEADLINE + 10)
STALLED.sendall(half_a_client_hello())
STALLED_AT = time.monotonic()

# ----------------------------------------------------------------------------------------------
# Part 1: clients of wss_echo_server
# ----------------------------------------------------------------------------------------------


@test("https: GET / serves the page over TLS (CA trusted, host name checked), /nope 404")
def _():
    ctx = client_context()
    with urllib.request.urlopen(HTTP_URL, context=ctx, timeout=10) as r:
        check(r.status == 200, f"GET / answered {r.status}")
        page = r.read()
    check(b'id="send"' in page, "GET / did not return the echo page")
    check(b"location.protocol.replace('http', 'ws')" in page, "the page does not pick wss: over https")
    try:
        urllib.request.urlopen(HTTP_URL + "nope", context=ctx, timeout=10)
        raise AssertionError("GET /nope did not fail")
    except urllib.error.HTTPError as e:
        check(e.code == 404, f"GET /nope answered {e.code}")


@test("https: a client that does not trust the test CA is refused by its own check")
def _():
    ctx = ssl.create_default_context()  # the system's CAs only
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=10) as s:
            with ctx.wrap_socket(s, server_hostname=HOST):
                pass
        raise AssertionError("the handshake succeeded without the test CA")
    except ssl.SSLCertVerificationError as e:
        print(f"   as expected: {e.verify_message}")


@test("wss: text echoed as text (up to 70000 chars, non-ASCII), subprotocol ws13.echo")
def _():
    with ws_connect(subprotocols=["other", "ws13.echo"]) as ws:
        check(ws.subprotocol == "ws13.echo", f"selected {ws.subprotocol!r}")
        check(isinstance(ws.socket, ssl.SSLSocket), "not over TLS")
        print(f"   {ws.socket.version()} {ws.socket.cipher()[0]}")
        for msg in ["hello", "", "héllo wörld ✓ 😀", "x" * 70000]:
            ws.send(msg)
            got = ws.recv(timeout=10)
            check(got == msg, f"sent text of {len(msg)} chars, got {len(got)} back (different)")


@test("wss: binary echoed as binary (0 B to 100000 B), fragments echoed whole")
def _():
    with ws_connect() as ws:
        for n in [0, 1, 125, 126, 65535, 65536, 100000]:
            data = payload(n, n)
            ws.send(data)
            got = ws.recv(timeout=10)
            check(got == data, f"sent {n} binary bytes, got {len(got)} different bytes back")
        parts = ["frag-one ", "", "frag-two é", " ✓ three" * 1000]
        ws.send(iter(parts))
        check(ws.recv(timeout=10) == "".join(parts), "fragmented text came back different")


@test("wss: 1 MiB and 4 MiB binary and text echoed intact")
def _():
    with ws_connect() as ws:
        for size in [1 << 20, 4 << 20]:
            data = payload(size, size)
            ws.send(data)
            check(ws.recv(timeout=60) == data, f"{size} B binary came back different")
            text = base64.b64encode(payload(size * 3 // 4, 7)).decode()
            ws.send(text)
            check(ws.recv(timeout=60) == text, f"{len(text)} chars of text came back different")


@test("wss: pings answered, 5000 small messages in order")
def _():
    with ws_connect() as ws:
        for data in [b"", b"ping-1", payload(125, 7)]:
            check(ws.ping(data).wait(5), f"no pong for a ping of {len(data)} bytes")
        n = 5000
        sender = threading.Thread(target=lambda: [ws.send(f"m{i}") for i in range(n)])
        sender.start()
        for i in range(n):
            got = ws.recv(timeout=10)
            check(got == f"m{i}", f"message #{i}: got {got!r}")
        sender.join(10)


@test("wss: close codes echoed (1000, 3000, 4999)")
def _():
    for code in [1000, 3000, 4999]:
        ws = ws_connect()
        ws.send("before close")
        check(ws.recv(timeout=10) == "before close", "echo before close failed")
        ws.close(code, "bye ✓")
        check(ws.close_code == code, f"sent close {code}, server answered {ws.close_code!r}")


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError(f"connection ended after {len(data)} of {n} bytes")
        data += chunk
    return data


@test("wss: a clean close, byte by byte: close echoed, then close_notify, then a FIN (no reset)")
def _():
    raw = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    # suppress_ragged_eofs=False: a TCP end without close_notify would raise SSLEOFError.
    tls = client_context().wrap_socket(raw, server_hostname=HOST, suppress_ragged_eofs=False)
    key = base64.b64encode(os.urandom(16))
    tls.sendall(
        b"GET / HTTP/1.1\r\nHost: " + f"{HOST}:{PORT}".encode() + b"\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += read_exact(tls, 1)
    check(head.startswith(b"HTTP/1.1 101"), f"upgrade answered {head[:40]!r}")
    mask = os.urandom(4)
    body = struct.pack("!H", 1000) + b"done"
    tls.sendall(bytes([0x88, 0x80 | len(body)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(body)))
    echo = read_exact(tls, 2)
    check(echo[0] == 0x88, f"expected a close frame, got {echo!r}")
    code = struct.unpack("!H", read_exact(tls, echo[1]))[0] if echo[1] else None
    check(code == 1000, f"close echoed with {code}")
    # Then the server's close_notify: recv says b"" (SSLEOFError if TCP ended without it).
    check(tls.recv(1) == b"", "data after the close frame")
    # Our close_notify back, and the TCP stream under TLS ends with a FIN, not a reset.
    plain = tls.unwrap()
    check(plain.recv(1) == b"", "bytes after close_notify")
    plain.close()


@test("wss: abrupt TCP drop inside a TLS connection - server logs it and keeps serving")
def _():
    ws = ws_connect()
    ws.send("hello before drop")
    check(ws.recv(timeout=10) == "hello before drop", "echo before drop failed")
    port = ws.socket.getsockname()[1]
    ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.socket.close()  # RST, no close frame, no close_notify
    line = wait_log_line(f"127.0.0.1:{port}: ")
    print(f"   server logged: {line}")
    with ws_connect() as ws2:
        ws2.send("after drop")
        check(ws2.recv(timeout=10) == "after drop", "no echo after the drop")


@test(f"wss: a client stalled half-way through its ClientHello is let go at the {DEADLINE} s deadline")
def _():
    port = STALLED.getsockname()[1]
    try:
        rest = STALLED.recv(4096)  # the server's alert, or nothing, then its end
        while rest:
            rest = STALLED.recv(4096)
    except ConnectionResetError:
        pass
    waited = time.monotonic() - STALLED_AT
    STALLED.close()
    check(DEADLINE - 1 <= waited <= DEADLINE + 3, f"let go after {waited:.1f}s")
    line = wait_log_line(f"127.0.0.1:{port}: ")
    check("timed out" in line.lower() or "timeout" in line.lower(), f"server logged: {line}")
    print(f"   let go after {waited:.1f}s; server logged: {line}")


# ----------------------------------------------------------------------------------------------
# Part 2: a websockets wss server for examples/wss_client
# ----------------------------------------------------------------------------------------------


def handler(ws):
    try:
        if ws.request.path == "/welcome":
            ws.send("welcome over TLS")
        elif ws.request.path == "/big":
            ws.send(payload(1 << 20, 3))
            ws.send("t" * (1 << 20))
        for message in ws:
            ws.send(message)
    except ConnectionClosed:
        pass


def run_client(url, lines, expect=0, ca=CA, timeout=20):
    """Runs examples/wss_client on `url` with `lines` on its standard input, which stays
    open until `expect` lines have been printed (or 10 s have passed): the client closes
    at the end of its input, and a websockets server sends nothing once it has the close.
    Returns (exit code, or None if it had to be killed; printed lines; standard error)."""
    p = subprocess.Popen([CLIENT, url, ca], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = [], []
    reader = threading.Thread(target=lambda: out.extend(l.decode("utf-8", "replace").rstrip("\n") for l in p.stdout))
    err_reader = threading.Thread(target=lambda: err.append(p.stderr.read().decode("utf-8", "replace")))
    reader.start()
    err_reader.start()
    try:
        p.stdin.write("".join(line + "\n" for line in lines).encode())
        p.stdin.flush()
        deadline = time.monotonic() + 10
        while len(out) < expect and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.02)
        p.stdin.close()
    except BrokenPipeError:
        pass
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = None
    reader.join(5)
    err_reader.join(5)
    return rc, out, "".join(err)


def client_suite():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    with serve(handler, "127.0.0.1", 0, ssl=ctx, max_size=64 * 1024 * 1024) as server:
        port = server.socket.getsockname()[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"wss://localhost:{port}"

        @test("websockets wss server <- wss_client: lines echoed back in order, exit 0")
        def _():
            lines = ["hello", "héllo ✓", "x" * 5000, "last"]
            rc, out, err = run_client(f"{base}/", lines, expect=len(lines))
            check(rc == 0, f"exit {rc}: {err.strip()}")
            check(out == lines, f"printed {[o[:40] for o in out]!r}")

        @test("websockets wss server <- wss_client: a message right after the 101, 1 MiB binary and text")
        def _():
            rc, out, err = run_client(f"{base}/welcome", [], expect=1)
            check(rc == 0 and out == ["welcome over TLS"], f"exit {rc}, printed {out!r}: {err.strip()}")
            rc, out, err = run_client(f"{base}/big", [], expect=2)
            check(rc == 0, f"exit {rc}: {err.strip()}")
            check(out == ["[binary 1048576 bytes]", "t" * (1 << 20)], f"printed {[o[:40] for o in out]!r}")

        @test("websockets wss server <- wss_client: a CA that did not sign the server's certificate is refused")
        def _():
            # The server's certificate itself, without its CA, is no trust anchor for it.
            leaf = open(CERT, encoding="ascii").read().split("-----END CERTIFICATE-----")[0]
            path = os.path.join(os.path.dirname(CERT), "leaf-only.pem")
            with open(path, "w", encoding="ascii") as f:
                f.write(leaf + "-----END CERTIFICATE-----\n")
            rc, out, err = run_client(f"{base}/", ["never sent"], ca=path)
            check(rc not in (0, None), f"exit {rc}")
            check("certificate" in err.lower(), f"stderr: {err.strip()}")
            print(f"   {err.strip()}")

        server.shutdown()


if CLIENT and CERT and KEY:
    client_suite()
else:
    print("   note: WS13_CLIENT, WS13_CERT or WS13_KEY not set: part 2 skipped", flush=True)

print(f"RESULT passed={PASSED} failed={len(FAILED)}", flush=True)
sys.exit(1 if FAILED else 0)
