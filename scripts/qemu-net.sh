#!/usr/bin/env bash
# The ws13 echo server firmware (qemu/net) on an emulated LM3S6965 with an Ethernet NIC on
# QEMU's user network (guest 10.0.2.15, port 80 forwarded from the host). From any directory:
#
#   scripts/qemu-net.sh serve [127.0.0.1:PORT]   boot it, print "listening on http://127.0.0.1:PORT/"
#                                                once it answers, stay until killed (default 8080);
#                                                open that address in a browser for the echo page
#   scripts/qemu-net.sh test                     boot it on a free port and check it with curl and
#                                                python: the page, 4 connections at once, a request
#                                                in pieces, bad requests and frames refused, WebSockets
#                                                up to capacity and one more refused without harm to
#                                                the others; exits 0 or 1
#   scripts/qemu-net.sh measure                  sizes (.text/.data/.bss), RAM, stack high-water
#                                                mark, requests/s, WebSocket messages/s and MB/s
#   scripts/qemu-net.sh client PORT              the Autobahn|Testsuite client firmware: connects
#                                                to a fuzzing server on the host's 127.0.0.1:PORT
#                                                (10.0.2.2 from the guest), runs every case, exits
#                                                with QEMU's status (0: reports written)
#
# Installs what is missing first (scripts/qemu-setup.sh), builds the release profile.
# QEMU_NET_PCAP=FILE also records every frame on the NIC into FILE (pcap).
# QEMU_NET_LOG=FILE keeps the firmware's output (one line per connection) in FILE.
# QEMU's "Timer with period zero, disabling" on stderr is harmless.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRATE=$ROOT/qemu/net
ELF=$CRATE/target/thumbv7m-none-eabi/release/net_firmware
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"

QEMU_PID=
WORKDIR=$(mktemp -d)
cleanup() {
    if [ -n "$QEMU_PID" ] && kill -0 "$QEMU_PID" 2>/dev/null; then
        kill "$QEMU_PID" 2>/dev/null || true
        wait "$QEMU_PID" 2>/dev/null || true
    fi
    rm -rf "$WORKDIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

usage() {
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

build() {
    "$ROOT/scripts/qemu-setup.sh" >&2
    command -v curl >/dev/null || { echo "qemu-net: curl is needed" >&2; exit 1; }
    command -v python3 >/dev/null || { echo "qemu-net: python3 is needed" >&2; exit 1; }
    echo "qemu-net: cargo build --release (qemu/net)" >&2
    (cd "$CRATE" && cargo build --release --quiet --target thumbv7m-none-eabi) >&2
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# boot ADDR PORT [QEMU ARGS...]: starts QEMU in the background (QEMU_PID), output in $LOG.
LOG=${QEMU_NET_LOG:-$WORKDIR/qemu.log}
boot() {
    local addr=$1 port=$2
    shift 2
    local extra=("$@")
    if [ -n "${QEMU_NET_PCAP:-}" ]; then
        extra+=(-object "filter-dump,id=dump0,netdev=net0,file=$QEMU_NET_PCAP")
    fi
    qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic \
        -semihosting-config enable=on,target=native \
        -nic "user,id=net0,hostfwd=tcp:$addr:$port-:80" "${extra[@]}" \
        -kernel "$ELF" </dev/null >"$LOG" 2>&1 &
    QEMU_PID=$!
}

# wait_ready ADDR PORT: until the firmware says its interface is up and a real GET through
# the forwarded port answers 200 (60 s at most). Fails if QEMU exits.
wait_ready() {
    local url="http://$1:$2/" deadline=$((SECONDS + 60))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if ! kill -0 "$QEMU_PID" 2>/dev/null; then
            echo "qemu-net: QEMU exited before the firmware answered:" >&2
            cat "$LOG" >&2
            return 1
        fi
        if grep -qs '^net: up' "$LOG" &&
            [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)" = 200 ]; then
            grep '^net: ' "$LOG" | sed 's/^/firmware: /' >&2
            return 0
        fi
        sleep 0.1
    done
    echo "qemu-net: no answer from $url within 60 s; QEMU's output:" >&2
    cat "$LOG" >&2
    return 1
}

serve() {
    local listen=${1:-127.0.0.1:8080}
    local addr=${listen%:*} port=${listen##*:}
    [ -n "$addr" ] && [ "$addr" != "$listen" ] && [[ "$port" =~ ^[0-9]+$ ]] || usage
    build
    boot "$addr" "$port"
    wait_ready "$addr" "$port"
    echo "listening on http://$addr:$port/"
    local status=0
    wait "$QEMU_PID" || status=$?
    QEMU_PID=
    echo "qemu-net: QEMU exited with status $status:" >&2
    cat "$LOG" >&2
    exit "$status"
}

# WebSockets by hand over plain sockets, for `test` and `measure` (no package needed).
# ws_open() takes the host and port from globals.
WS_HELPERS=$(
    cat <<'PY'
import base64, hashlib, os, socket, struct

def ws_open():
    s = socket.create_connection((host, port), timeout=10)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET /any/path HTTP/1.1\r\nHost: device.local\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = s.recv(1)
        if not byte:
            raise OSError("closed during the handshake: %r" % head)
        head += byte
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    if not head.startswith(b"HTTP/1.1 101") or accept not in head:
        raise OSError("bad upgrade answer: %r" % head)
    return s

def recv_exact(s, n):
    data = bytearray()
    while len(data) < n:
        chunk = s.recv(min(n - len(data), 1 << 20))
        if not chunk:
            raise OSError("closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return bytes(data)

def ws_send(s, opcode, data, fin=True):
    s.sendall(ws_frame(opcode, data, fin=fin))

def ws_recv(s):
    b0, b1 = recv_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(s, 8))[0]
    return b0 & 0x0F, recv_exact(s, n)

def ws_echoes(s, data):
    ws_send(s, 2, data)
    return ws_recv(s) == (2, data)

def ws_close(s):
    ws_send(s, 8, b"\x03\xe8")
    answer = ws_recv(s)
    ended = s.recv(1) == b""
    s.close()
    return answer == (8, b"\x03\xe8") and ended

def ws_frame(opcode, data, key=None, fin=True):
    """A masked client frame (a zero key, for benchmarks, leaves the payload as it is)."""
    key = os.urandom(4) if key is None else key
    n = len(data)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    if key == bytes(4):
        return head + key + data
    mask = (key * (n // 4 + 1))[:n]
    body = (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big") if n else b""
    return head + key + body
PY
)

# The checks of `test`, in python: one line each, then "N passed, N failed".
CHECKS=$(
    cat <<'PY'
import base64, hashlib, os, socket, struct, sys, threading, time

host, port = sys.argv[1], int(sys.argv[2])
REQUEST = b"GET / HTTP/1.1\r\nHost: device.local\r\n\r\n"
passed = failed = 0

def check(name, ok, detail=""):
    global passed, failed
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + detail))
    if ok:
        passed += 1
    else:
        failed += 1

def read_all(sock):
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk

def is_page(data):
    head, _, body = data.partition(b"\r\n\r\n")
    return (head.startswith(b"HTTP/1.1 200 OK\r\n")
            and b"\r\nContent-Length: %d\r\n" % len(body) in head + b"\r\n"
            and body.startswith(b"<!doctype html>"))

# Four connections open at once: all connected (the guest holds four established
# connections) before any request is sent, then all four answered.
socks = [socket.create_connection((host, port), timeout=10) for _ in range(4)]
time.sleep(0.3)
for s in socks:
    s.sendall(REQUEST)
answers = [read_all(s) for s in socks]
for s in socks:
    s.close()
check("4 connections open at once, each answered with the page",
      all(is_page(a) for a in answers), repr([a[:40] for a in answers]))

# Four clients in parallel, 25 requests each, a new connection per request.
results = []
def client():
    for _ in range(25):
        try:
            with socket.create_connection((host, port), timeout=10) as s:
                s.sendall(REQUEST)
                results.append(is_page(read_all(s)))
        except OSError:
            results.append(False)
threads = [threading.Thread(target=client) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
check("4 parallel clients x 25 requests, all served",
      len(results) == 100 and all(results), "%d of %d served" % (sum(results), len(results)))

# A request that arrives in three pieces, 200 ms apart.
with socket.create_connection((host, port), timeout=10) as s:
    for piece in (b"GET / HTTP/1.1\r\n", b"Host: device.local\r\n", b"\r\n"):
        s.sendall(piece)
        time.sleep(0.2)
    answer = read_all(s)
check("a request sent in pieces", is_page(answer), repr(answer[:60]))

# Bad input is refused as examples/echo_server refuses it (both leave it to ws13).
def exchange(data):
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(data)
        return read_all(s)

UPGRADE = ("GET / HTTP/1.1\r\nHost: device.local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
for name, request, status in [
    ("a malformed request line gets 400", b"GET\r\n\r\n", b"400"),
    ("an upgrade without a version gets 426", (UPGRADE + "\r\n").encode(), b"426"),
    ("an upgrade for version 8 gets 426", (UPGRADE + "Sec-WebSocket-Version: 8\r\n\r\n").encode(), b"426"),
    ("an upgrade by POST gets 405", (UPGRADE.replace("GET", "POST") + "Sec-WebSocket-Version: 13\r\n\r\n").encode(), b"405"),
]:
    try:
        answer = exchange(request)
    except OSError as e:
        answer = repr(e).encode()
    check(name, answer.startswith(b"HTTP/1.1 " + status + b" "), repr(answer[:60]))
def refused_with(name, frames, expected):
    """Sends `frames` on a new WebSocket; checks what comes back, then that TCP closes."""
    s = None
    try:
        s = ws_open()
        for frame in frames:
            s.sendall(frame)
        got = [ws_recv(s) for _ in expected]
        check(name, got == expected and s.recv(1) == b"", repr(got))
    except OSError as e:
        check(name, False, repr(e))
    finally:
        if s is not None:
            s.close()

refused_with("an unmasked frame gets close 1002, then TCP closes",
             [b"\x81\x02hi"], [(8, b"\x03\xea")])
refused_with("invalid UTF-8 found part-way gets close 1007 after the valid part's echo",
             [ws_frame(1, b"caf\xc3", fin=False), ws_frame(0, b"\x28")],
             [(1, b"caf\xc3"), (8, b"\x03\xef")])
refused_with("a text message ending inside a character gets close 1007",
             [ws_frame(1, b"caf\xc3")], [(8, b"\x03\xef")])
# The connections above are over on both sides before the next checks count sockets.
time.sleep(0.5)

# As many WebSockets as the firmware has connections, all open at once; one more connection
# is refused (closed or reset without an answer) and the others go on; once one closes, a
# new one is served.
capacity = int(sys.argv[3])
try:
    socks = [ws_open() for _ in range(capacity)]
    time.sleep(0.2)
    all_echo = all(ws_echoes(s, os.urandom(3000)) for s in socks)
    check("%d WebSockets open at once, each echoes" % capacity, all_echo)
    extra = socket.create_connection((host, port), timeout=10)
    extra.settimeout(5)
    try:
        extra.sendall(REQUEST)
        refused = extra.recv(100)
    except ConnectionResetError:
        refused = b""
    extra.close()
    check("connection %d is refused cleanly (closed, no answer)" % (capacity + 1), refused == b"", repr(refused[:40]))
    check("the %d open WebSockets still echo" % capacity, all(ws_echoes(s, b"still here") for s in socks))
    check("a WebSocket closes cleanly (close echoed, then TCP closed)", ws_close(socks.pop()))
    time.sleep(0.2)
    late = ws_open()
    check("a new WebSocket is served once one has closed", ws_echoes(late, os.urandom(70000)))
    socks.append(late)
    check("all close cleanly", all(ws_close(s) for s in socks))
except OSError as e:
    check("WebSockets up to capacity", False, repr(e))

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
)

# The firmware's connection count, from its "net: up" line.
capacity() {
    sed -n 's/^net: up.* with \([0-9]*\) sockets$/\1/p' "$LOG" | head -n 1
}

run_test() {
    build
    local port
    port=$(free_port)
    boot 127.0.0.1 "$port"
    wait_ready 127.0.0.1 "$port"
    echo "listening on http://127.0.0.1:$port/"
    local status=0 page
    page=$(curl -sS -i --max-time 10 "http://127.0.0.1:$port/") || status=$?
    if [ "$status" -eq 0 ] && grep -q '^HTTP/1.1 200 OK' <<<"$page" &&
        grep -q 'id="send"' <<<"$page"; then
        echo "ok   curl GET / answers 200 with the page"
        curl_ok=1
    else
        echo "FAIL curl GET / (curl status $status): $page"
        curl_ok=0
    fi
    status=0
    python3 -c "$WS_HELPERS
$CHECKS" 127.0.0.1 "$port" "$(capacity)" >"$WORKDIR/checks" || status=$?
    # Fold curl's check into python's tally line.
    local tally passed failed
    tally=$(tail -n1 "$WORKDIR/checks")
    sed '$d' "$WORKDIR/checks"
    passed=$(sed -n 's/^\([0-9]*\) passed.*/\1/p' <<<"$tally")
    failed=$(sed -n 's/.* \([0-9]*\) failed$/\1/p' <<<"$tally")
    [ -n "$passed" ] && [ -n "$failed" ] || { echo "FAIL python checks: $tally"; passed=0 failed=1; }
    if ! kill -0 "$QEMU_PID" 2>/dev/null; then
        echo "FAIL QEMU exited during the checks:"
        cat "$LOG"
        failed=$((failed + 1))
    fi
    echo "$((passed + curl_ok)) passed, $((failed + 1 - curl_ok)) failed"
    [ "$status" -eq 0 ] && [ "$curl_ok" -eq 1 ] && [ "$failed" -eq 0 ]
}

# Requests per second: python clients in a loop for $2 seconds, a new connection per GET.
RPS=$(
    cat <<'PY'
import socket, sys, threading, time

host, port, seconds, clients = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
REQUEST = b"GET / HTTP/1.1\r\nHost: device.local\r\n\r\n"
ok = [0] * clients
bad = [0] * clients
latencies = []

def get():
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(REQUEST)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"</html>\n")

def client(i):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        try:
            good = get()
        except OSError:
            good = False
        latencies.append(time.monotonic() - start)
        if good:
            ok[i] += 1
        else:
            bad[i] += 1

start = time.monotonic()
threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - start
latencies.sort()
print("%d client(s), %.0f s: %d served, %d failed, %.0f requests/s, latency median %.2f ms, p99 %.2f ms"
      % (clients, seconds, sum(ok), sum(bad), sum(ok) / elapsed,
         1000 * latencies[len(latencies) // 2], 1000 * latencies[int(len(latencies) * 0.99)]))
PY
)

# WebSocket echo rates (python with raw sockets; a zero masking key so that the client spends
# nothing on masking, the firmware unmasks as always): round trips of small messages one at a
# time, small messages streamed (all sent, then all read back), large binary messages streamed
# on 1 connection and on 4 at once. Payload rate counts each payload byte once (it also goes
# back the other way).
WSBENCH=$(
    cat <<'PY'
import sys, threading, time

host, port = sys.argv[1], int(sys.argv[2])
ZERO = bytes(4)

def rtt(seconds, size):
    s = ws_open()
    frame, data = ws_frame(2, b"x" * size, ZERO), b"x" * size
    n, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        s.sendall(frame)
        assert ws_recv(s) == (2, data)
        n += 1
    elapsed = time.monotonic() - start
    ws_close(s)
    return n / elapsed

def stream(conns, count, size):
    frame = ws_frame(2, bytes(range(256)) * (size // 256) + bytes(size % 256), ZERO)
    socks = [ws_open() for _ in range(conns)]
    errors = []
    def send(s):
        try:
            for _ in range(count):
                s.sendall(frame)
        except OSError as e:
            errors.append(e)
    def read(s):
        got = 0
        try:
            while got < count * size:
                opcode, payload = ws_recv(s)
                got += len(payload)
        except OSError as e:
            errors.append(e)
    start = time.monotonic()
    threads = [threading.Thread(target=f, args=(s,)) for s in socks for f in (send, read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    for s in socks:
        ws_close(s)
    if errors:
        raise errors[0]
    return conns * count / elapsed, conns * count * size / elapsed / 1e6

print("round trips, 1 connection, one 16-byte message at a time: %.0f messages/s" % rtt(5, 16))
for size, count in ((16, 20000), (1024, 5000)):
    rate, mb = stream(1, count, size)
    print("streamed, 1 connection, %d x %d bytes: %.0f messages/s, %.2f MB/s" % (count, size, rate, mb))
for conns, size, count in ((1, 1 << 20, 16), (1, 16 << 20, 1), (4, 1 << 20, 8)):
    rate, mb = stream(conns, count, size)
    print("streamed, %d connection(s), %d x %d KiB each: %.2f MB/s" % (conns, count, size >> 10, mb))
PY
)

# Lowest non-zero word between the end of .bss and the top of RAM, from a copy of RAM that
# QEMU writes (QMP's pmemsave): QEMU starts with RAM zeroed and nothing but the stack writes
# there (no heap), so this is the stack's high-water mark (a word that was written with 0
# and never again would be missed).
STACK=$(
    cat <<'PY'
import json, socket, sys

path, low, dump = sys.argv[1], int(sys.argv[2], 16), sys.argv[3]
top = 0x20010000
s = socket.socket(socket.AF_UNIX)
s.connect(path)
f = s.makefile("rw")

def call(command, **arguments):
    f.write(json.dumps({"execute": command, "arguments": arguments}) + "\n")
    f.flush()
    while True:
        reply = json.loads(f.readline())
        if "return" in reply or "error" in reply:
            return reply

json.loads(f.readline())  # greeting
call("qmp_capabilities")
reply = call("pmemsave", val=low, size=top - low, filename=dump)
if "error" in reply:
    sys.exit("pmemsave: %s" % reply["error"])
ram = open(dump, "rb").read()
used = next((i for i in range(0, len(ram), 4) if ram[i:i + 4] != b"\0\0\0\0"), None)
if used is None:
    print("stack: nothing written")
else:
    print("stack high-water mark: %d bytes (deepest word written at 0x%08x; %d bytes never touched below it)"
          % (len(ram) - used, low + used, used))
PY
)

measure() {
    build
    echo "== sizes (arm-none-eabi-size -A, release: opt-level s, LTO, 1 codegen unit)"
    arm-none-eabi-size -A "$ELF" | grep -E '^(section|\.vector_table|\.text|\.rodata|\.data|\.bss|\.uninit)'
    arm-none-eabi-size -B "$ELF"
    echo
    echo "== largest statics (arm-none-eabi-nm -S --size-sort)"
    arm-none-eabi-nm -S --size-sort -C "$ELF" | grep -iE ' [bd] ' | tail -n 6
    local port sheap
    port=$(free_port)
    sheap=$(arm-none-eabi-nm "$ELF" | sed -n 's/^\([0-9a-f]*\) . __sheap$/\1/p')
    boot 127.0.0.1 "$port" -qmp "unix:$WORKDIR/qmp.sock,server=on,wait=off"
    wait_ready 127.0.0.1 "$port"
    echo
    echo "== firmware's own report"
    grep '^net: ' "$LOG"
    echo
    echo "== stack after boot and one GET"
    python3 -c "$STACK" "$WORKDIR/qmp.sock" "$sheap" "$WORKDIR/ram.bin"
    echo
    echo "== requests per second (python clients, a new connection per GET, QEMU TCG on $(nproc) host cores)"
    python3 -c "$RPS" 127.0.0.1 "$port" 10 1
    python3 -c "$RPS" 127.0.0.1 "$port" 10 4
    echo
    echo "== WebSocket echo (python with raw sockets through the forwarded port)"
    python3 -c "$WS_HELPERS
$WSBENCH" 127.0.0.1 "$port"
    echo
    echo "== stack after the runs above"
    python3 -c "$STACK" "$WORKDIR/qmp.sock" "$sheap" "$WORKDIR/ram.bin"
}

# client PORT: the Autobahn client firmware, built for the fuzzing server's port, in the
# foreground; its output on stdout.
client() {
    local port=${1:-}
    [[ "$port" =~ ^[0-9]+$ ]] || usage
    "$ROOT/scripts/qemu-setup.sh" >&2
    echo "qemu-net: cargo build --release --bin autobahn_client (qemu/net, WS13_AUTOBAHN_PORT=$port)" >&2
    (cd "$CRATE" && WS13_AUTOBAHN_PORT=$port cargo build --release --quiet --target thumbv7m-none-eabi --bin autobahn_client) >&2
    local status=0
    qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic \
        -semihosting-config enable=on,target=native \
        -nic user,id=net0 -kernel "$CRATE/target/thumbv7m-none-eabi/release/autobahn_client" </dev/null &
    QEMU_PID=$!
    wait "$QEMU_PID" || status=$?
    QEMU_PID=
    exit "$status"
}

case "${1:-}" in
serve) serve "${2:-}" ;;
client) client "${2:-}" ;;
test) run_test ;;
measure) measure ;;
*) usage ;;
esac
