#!/usr/bin/env bash
# Interop tests of ws13's examples against real peers, all on 127.0.0.1:
#   browser  Debian's Chromium (driven by playwright-core) loads echo_server's page: a person types
#            and clicks Send; the page's JavaScript checks text/binary/1 MiB echo, subprotocol
#            selection, close codes 4000..4999 (wasClean), 5000 messages in order; a screenshot
#            goes to target/interop/echo_page.png.
#   python   `websockets` (sync API) as a client of echo_server and as a server for examples/client;
#            raw sockets check that a second connection is served while a first is mid-message.
#   node     `ws` as a client of echo_server and as a server for examples/client.
# Tests live in tests/interop/; their packages are installed there (node_modules, .venv).
#
# Installs what is missing (apt: chromium; a venv with websockets; npm packages), builds the
# examples, starts echo_server, runs each suite, prints `N passed, N failed` on the last line and
# exits non-zero on any failure.
#
# With INTEROP_TARGET=firmware the same suites run against the ws13 firmware in qemu/net instead
# (booted under QEMU by scripts/qemu-net.sh serve, its port 80 forwarded to INTEROP_PORT): the
# browser suite whole, and the client parts of the python and node suites (the firmware is the
# server; examples/client is not involved). Output goes to target/interop/firmware/.
#
# With INTEROP_TARGET=wss the peers meet ws13 over TLS: examples/wss_echo_server (rustls; a test CA
# and certificate made at start-up into target/interop/wss/pki/) serves the page over https and
# the echo over wss on one port. The browser suite runs whole (Chromium accepts the certificate
# by its key's hash, --ignore-certificate-errors-spki-list); the python suite is
# tests/interop/py_wss.py (ssl and websockets trusting the test CA: the page, echoes, a clean close
# down to close_notify and a FIN, a client stalled in its TLS handshake let go at the deadline, and
# a websockets wss server for examples/wss_client). Output goes to target/interop/wss/.
#
# Environment:
#   INTEROP_TARGET         echo_server (default), firmware or wss
#   INTEROP_PORT           the server's port (default: a free one)
#   INTEROP_SUITES         suites to run, space-separated (default "browser python node"; for
#                          wss "browser python")
#   INTEROP_SKIP_INSTALL=1 don't install anything
#   INTEROP_SKIP_BUILD=1   don't run cargo build
#   CHROMIUM               browser executable (default /usr/bin/chromium)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
DIR="$ROOT/tests/interop"
TARGET="${INTEROP_TARGET:-echo_server}"
case "$TARGET" in
echo_server) OUT="$ROOT/target/interop" ;;
firmware) OUT="$ROOT/target/interop/firmware" ;;
wss) OUT="$ROOT/target/interop/wss" ;;
*) printf '[interop] ERROR: INTEROP_TARGET must be echo_server, firmware or wss, not %s\n' "$TARGET" >&2; exit 2 ;;
esac
if [[ "$TARGET" == wss ]]; then
    SUITES="${INTEROP_SUITES:-browser python}"
    [[ " $SUITES " != *" node "* ]] || { printf '[interop] ERROR: no node suite over wss\n' >&2; exit 2; }
else
    SUITES="${INTEROP_SUITES:-browser python node}"
fi
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
VENV="$DIR/.venv"
SUITE_TIMEOUT=300    # seconds each suite may take
SERVER_TIMEOUT=1800  # seconds echo_server may live
STARTUP_TIMEOUT=20   # seconds to wait for echo_server to listen
FIRMWARE_STARTUP_TIMEOUT=900  # seconds to wait for the firmware (it is built first)

log() { printf '[interop] %s\n' "$*"; }
die() { printf '[interop] ERROR: %s\n' "$*" >&2; exit 1; }

SERVER_PID=""
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root for: $*"
    fi
}

# ---- install ------------------------------------------------------------------------------------
if [[ "${INTEROP_SKIP_INSTALL:-}" != 1 ]]; then
    wants() { [[ " $SUITES " == *" $1 "* ]]; }
    if wants browser && [[ ! -x "$CHROMIUM" ]]; then
        log "installing chromium (apt-get)"
        as_root timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -qq
        as_root env DEBIAN_FRONTEND=noninteractive timeout 1200 \
            apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >/dev/null
    fi
    if wants python && ! "$VENV/bin/python" -c 'import websockets.sync.server' 2>/dev/null; then
        log "installing python websockets into tests/interop/.venv"
        [[ -x "$VENV/bin/python" ]] || timeout 120 python3 -m venv "$VENV"
        timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check -r "$DIR/requirements.txt"
    fi
    if { wants browser || wants node; } &&
        ! [[ -f "$DIR/node_modules/ws/package.json" && -f "$DIR/node_modules/playwright-core/package.json" ]]; then
        log "installing npm packages into tests/interop/node_modules"
        (cd "$DIR" && timeout 600 npm install --no-audit --no-fund --loglevel=error)
    fi
fi

# ---- build and start the server ----------------------------------------------------------------
mkdir -p "$OUT"
PORT="${INTEROP_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
SCHEME=ws
HTTP_SCHEME=http
URL_HOST=127.0.0.1
if [[ "$TARGET" == echo_server || "$TARGET" == wss ]]; then
    if [[ "${INTEROP_SKIP_BUILD:-}" != 1 ]]; then
        log "building examples (release)"
        timeout 1200 cargo build --release --examples -j 1
    fi
    if [[ "$TARGET" == wss ]]; then
        SERVER_NAME=wss_echo_server
        CLIENT="$ROOT/target/release/examples/wss_client"
        # The server makes a test CA and its certificate here at start-up (ca.pem, cert.pem,
        # key.pem); the clients trust ca.pem and check the name localhost.
        PKI="$OUT/pki"
        rm -rf "$PKI"
        SERVER_ARGS=(--out "$PKI")
        SCHEME=wss
        HTTP_SCHEME=https
        URL_HOST=localhost
    else
        SERVER_NAME=echo_server
        CLIENT="$ROOT/target/release/examples/client"
        SERVER_ARGS=()
    fi
    ECHO_SERVER="$ROOT/target/release/examples/$SERVER_NAME"
    [[ -x "$ECHO_SERVER" && -x "$CLIENT" ]] || die "examples not built: $ECHO_SERVER, $CLIENT"
    SERVER_LOG="$OUT/$SERVER_NAME.log"
    : >"$SERVER_LOG"
    timeout -k 5 "$SERVER_TIMEOUT" "$ECHO_SERVER" "127.0.0.1:$PORT" "${SERVER_ARGS[@]}" 2>"$SERVER_LOG" &
    SERVER_PID=$!
    for ((i = 0; i < STARTUP_TIMEOUT * 10; i++)); do
        grep -q 'listening' "$SERVER_LOG" && break
        kill -0 "$SERVER_PID" 2>/dev/null || die "$SERVER_NAME exited: $(cat "$SERVER_LOG")"
        sleep 0.1
    done
    grep -q 'listening' "$SERVER_LOG" || die "$SERVER_NAME did not start listening on 127.0.0.1:$PORT"
    LOG_HOST=127.0.0.1
    CONCURRENT=8
else
    # qemu-net.sh builds the firmware, boots it and says "listening on" once it answers; the
    # firmware's own lines (one per connection) go to SERVER_LOG.
    SERVER_NAME=firmware
    SERVER_LOG="$OUT/firmware.log"
    : >"$SERVER_LOG"
    QEMU_NET_LOG="$SERVER_LOG" timeout -k 5 "$SERVER_TIMEOUT" \
        bash "$ROOT/scripts/qemu-net.sh" serve "127.0.0.1:$PORT" >"$OUT/qemu-net.out" 2>&1 &
    SERVER_PID=$!
    for ((i = 0; i < FIRMWARE_STARTUP_TIMEOUT * 10; i++)); do
        grep -q '^listening on' "$OUT/qemu-net.out" && break
        kill -0 "$SERVER_PID" 2>/dev/null || die "qemu-net.sh serve exited: $(tail -n 30 "$OUT/qemu-net.out")"
        sleep 0.1
    done
    grep -q '^listening on' "$OUT/qemu-net.out" ||
        die "the firmware did not answer on 127.0.0.1:$PORT: $(tail -n 30 "$OUT/qemu-net.out")"
    CLIENT=""
    # The firmware sees clients through QEMU's user network, as 10.0.2.2 with their own port.
    LOG_HOST=10.0.2.2
    # As many connections at once as the firmware serves.
    CONCURRENT="$(sed -n 's/^net: up.* with \([0-9]*\) sockets$/\1/p' "$SERVER_LOG" | head -n 1)"
    [[ -n "$CONCURRENT" ]] || die "no 'net: up' line in $SERVER_LOG"
fi
log "$SERVER_NAME (pid $SERVER_PID) on 127.0.0.1:$PORT, log in ${SERVER_LOG#"$ROOT"/}"

export WS13_ECHO_URL="$SCHEME://$URL_HOST:$PORT/"
export WS13_HTTP_URL="$HTTP_SCHEME://$URL_HOST:$PORT/"
if [[ "$TARGET" == wss ]]; then
    export WS13_CA="$PKI/ca.pem" WS13_CERT="$PKI/cert.pem" WS13_KEY="$PKI/key.pem"
fi
export WS13_ECHO_LOG="$SERVER_LOG"
export WS13_LOG_HOST="$LOG_HOST"
export WS13_CONCURRENT="$CONCURRENT"
export WS13_CLIENT="$CLIENT"
export WS13_SCREENSHOT="$OUT/echo_page.png"
export CHROMIUM

# ---- suites -------------------------------------------------------------------------------------
PASSED=0
FAILED=0
FAILED_NAMES=()

# run_suite NAME DESCRIPTION COMMAND...: runs a suite printing `ok - ` / `FAIL - ` lines and a
# final `RESULT passed=N failed=M`; a suite that dies without that line counts as one failure.
run_suite() {
    local name="$1" what="$2"
    shift 2
    log "---- $name: $what"
    local out="$OUT/$name.out" rc=0
    timeout -k 5 "$SUITE_TIMEOUT" "$@" 2>&1 | tee "$out" || rc=$?
    local result
    result="$(grep -E '^RESULT passed=[0-9]+ failed=[0-9]+$' "$out" | tail -n 1 || true)"
    if [[ -z "$result" ]]; then
        log "$name: suite did not finish (exit $rc)"
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name: suite did not finish (exit $rc)")
        return
    fi
    local p f
    p="$(sed -E 's/^RESULT passed=([0-9]+) failed=([0-9]+)$/\1/' <<<"$result")"
    f="$(sed -E 's/^RESULT passed=([0-9]+) failed=([0-9]+)$/\2/' <<<"$result")"
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    while IFS= read -r line; do FAILED_NAMES+=("${line#FAIL - }"); done < <(grep '^FAIL - ' "$out" || true)
    if [[ "$f" -eq 0 && "$rc" -ne 0 ]]; then
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name: exit status $rc")
    fi
    log "$name: $p passed, $f failed"
}

# What the python and node suites check of examples/client, when it takes part.
PY_CLIENT_PART=""
NODE_CLIENT_PART=""
if [[ -n "$CLIENT" ]]; then
    PY_CLIENT_PART="; websockets server <- client: echo, welcome after 101, binary, close code, drops, pings; raw server: 101+frame in one write, trickled frames"
    NODE_CLIENT_PART="; ws server <- client: echo, welcome after 101, binary, fragments, 4 MiB, close code, drops, pings"
fi
for suite in $SUITES; do
    case "$suite" in
    browser)
        run_suite browser \
            "Chromium loads $SERVER_NAME's page; typing + Send echoes into #log; page JS: text, binary, 1 MiB, subprotocol, close 4000..4999 wasClean, 5000 in order; screenshot" \
            node "$DIR/browser.mjs" ;;
    python)
        if [[ "$TARGET" == wss ]]; then
            run_suite python \
                "ssl + websockets (sync) trusting the test CA -> wss_echo_server: the page over https, an untrusting client refused, text/binary/fragments/1 and 4 MiB/pings/5000 in order/close codes, a clean close down to close_notify and a FIN, an abrupt drop, a client stalled in its ClientHello let go at the 10 s deadline; websockets wss server <- wss_client: lines, a message after the 101, 1 MiB, a CA that did not sign refused" \
                "$VENV/bin/python" "$DIR/py_wss.py"
            continue
        fi
        run_suite python \
            "websockets (sync) client -> $SERVER_NAME: text/binary/fragments/pings (also between fragments)/close codes/4 MiB/5000 in order/abrupt drops/HTTP 200, 404, 405/a second connection served while a first is mid-message, mid-frame, or not reading$PY_CLIENT_PART" \
            "$VENV/bin/python" "$DIR/py_interop.py" ;;
    node)
        run_suite node \
            "ws client -> $SERVER_NAME: text/binary/fragments/pings (also between fragments)/close codes/4 MiB/5000 in order/abrupt drops/$CONCURRENT at once$NODE_CLIENT_PART" \
            node "$DIR/node_interop.mjs" ;;
    *) die "unknown suite: $suite" ;;
    esac
done

# ---- the server survived everything -------------------------------------------------------------
log "---- server: $SERVER_NAME still running and nothing panicked"
if kill -0 "$SERVER_PID" 2>/dev/null && ! grep -qiE 'panicked|HardFault' "$SERVER_LOG"; then
    PASSED=$((PASSED + 1))
    log "ok - $SERVER_NAME alive after $(grep -cE '^(127\.0\.0\.1|10\.0\.2\.2):' "$SERVER_LOG" || true) logged connections"
else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$SERVER_NAME died or panicked (see ${SERVER_LOG#"$ROOT"/})")
    log "FAIL - $SERVER_NAME died or panicked: $(grep -iE -m 3 'panicked|HardFault' "$SERVER_LOG" || echo 'not running')"
fi

if ((${#FAILED_NAMES[@]})); then
    log "failures:"
    printf '[interop]   %s\n' "${FAILED_NAMES[@]}"
fi
echo "$PASSED passed, $FAILED failed"
[[ "$FAILED" -eq 0 ]]
