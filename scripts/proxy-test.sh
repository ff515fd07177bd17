#!/usr/bin/env bash
# echo_server scaled out behind nginx, all on 127.0.0.1: bash scripts/proxy-test.sh
#
# Installs nginx from Debian if missing (nginx-light, else nginx), starts PROXY_BACKENDS
# (default 2) echo_server processes on free loopback ports and one nginx in front of them,
# as a plain process (not a service: `daemon off`, its own configuration, pid file, logs
# and temporary files under target/proxy/), with one `upstream` of the back ends and the
# Upgrade/Connection headers passed as nginx documents for WebSockets. Then, through
# nginx's port:
#   check    an echo conversation, a 64 KiB echo and the page (load_client check);
#   browser  Debian's Chromium (playwright-core) loads the page, a person types and clicks
#            Send, the page's JavaScript checks text, binary, 1 MiB, subprotocol, close
#            codes and 5000 messages in order (tests/interop/browser.mjs); a screenshot
#            goes to target/proxy/echo_page.png;
#   python   `websockets` as a client (the client part of tests/interop/py_interop.py);
#   load     PROXY_CONNS (default 1000) connections at once x PROXY_MESSAGES (default 100)
#            messages of 1 B to 64 KiB, every echo compared byte for byte; each back end's
#            log must show some of them, and all of them between the back ends;
#   failover PROXY_RECONNECT (default 200) connections echo 200 short messages each, 20 ms
#            apart; one back end is killed (SIGKILL) a second and a half in: the
#            connections it held are lost, and each opens a new one through nginx, which
#            sends it to a back end still up, and goes on from the message whose echo it
#            lacked: every message is echoed, none lost; then a last check.
# Prints `N passed, N failed` on its last line and exits non-zero on any failure. Everything
# it starts is stopped by PID at the end.
#
# Environment:
#   PROXY_BACKENDS, PROXY_CONNS, PROXY_MESSAGES, PROXY_RECONNECT   as above
#   PROXY_SUITES          suites to run (default "check browser python load failover")
#   PROXY_SKIP_INSTALL=1  install nothing
#   CHROMIUM              browser executable (default /usr/bin/chromium)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
OUT="$ROOT/target/proxy"
DIR="$ROOT/tests/interop"
VENV="$DIR/.venv"
BIN="$ROOT/target/release/examples"
BACKENDS="${PROXY_BACKENDS:-2}"
CONNS="${PROXY_CONNS:-1000}"
MESSAGES="${PROXY_MESSAGES:-100}"
RECONNECTING="${PROXY_RECONNECT:-200}"
SUITES="${PROXY_SUITES:-check browser python load failover}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
started=$(date +%s)

log() { printf '[proxy] %s\n' "$*"; }
die() { printf '[proxy] ERROR: %s\n' "$*" >&2; exit 1; }
wants() { [[ " $SUITES " == *" $1 "* ]]; }

PIDS=()
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
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
if [[ "${PROXY_SKIP_INSTALL:-}" != 1 ]]; then
    apt_updated=""
    apt_install() {
        if [[ -z "$apt_updated" ]]; then
            as_root timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -qq
            apt_updated=1
        fi
        as_root env DEBIAN_FRONTEND=noninteractive timeout 1200 \
            apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null
    }
    if ! [[ -x "$NGINX" ]]; then
        log "installing nginx (apt-get)"
        apt_install nginx-light || apt_install nginx
        NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
    fi
    if wants browser && [[ ! -x "$CHROMIUM" ]]; then
        log "installing chromium (apt-get)"
        apt_install chromium
    fi
    if wants python && ! "$VENV/bin/python" -c 'import websockets.sync.client' 2>/dev/null; then
        log "installing python websockets into tests/interop/.venv"
        [[ -x "$VENV/bin/python" ]] || timeout 120 python3 -m venv "$VENV"
        timeout 600 "$VENV/bin/pip" install -q --disable-pip-version-check -r "$DIR/requirements.txt"
    fi
    if wants browser && ! [[ -f "$DIR/node_modules/playwright-core/package.json" ]]; then
        log "installing npm packages into tests/interop/node_modules"
        (cd "$DIR" && timeout 600 npm install --no-audit --no-fund --loglevel=error)
    fi
fi
[[ -x "$NGINX" ]] || die "nginx not found (install nginx-light or nginx)"
log "$("$NGINX" -v 2>&1)"

# ---- build --------------------------------------------------------------------------------------
log "building echo_server and load_client (release)"
cargo build --quiet --release -j "${CARGO_BUILD_JOBS:-1}" --example echo_server --example load_client

# Every connection through nginx is a socket in the client, two in nginx and one in a back
# end: make room for the load stage, with a margin.
need=$((4 * CONNS + 1024))
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt "$need" ]]; then
    ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
log "ulimit -n $(ulimit -n) (need about $need)"

free_port() { "$BIN/load_client" free-port; }

# ---- back ends ----------------------------------------------------------------------------------
rm -rf "$OUT"
mkdir -p "$OUT/tmp"
BACKEND_PORTS=()
BACKEND_PIDS=()
for ((i = 1; i <= BACKENDS; i++)); do
    port=$(free_port)
    # Room for every connection of the load stage on one back end, should nginx send them
    # all to it.
    "$BIN/echo_server" "127.0.0.1:$port" --max-connections $((CONNS + 100)) 2>"$OUT/backend$i.log" &
    pid=$!
    PIDS+=("$pid")
    BACKEND_PIDS+=("$pid")
    BACKEND_PORTS+=("$port")
    "$BIN/load_client" wait "127.0.0.1:$port" >/dev/null
    log "back end $i: echo_server (PID $pid) on 127.0.0.1:$port, log target/proxy/backend$i.log"
done

# ---- nginx --------------------------------------------------------------------------------------
PORT=$(free_port)
user_line=""
# As root, nginx's workers would switch to `nobody`; keep them as the user running this.
[[ $(id -u) -eq 0 ]] && user_line="user root root;"
{
    cat <<EOF
# Generated by scripts/proxy-test.sh: nginx in front of ${BACKENDS} echo_server processes.
$user_line
daemon off;
worker_processes 2;
worker_rlimit_nofile $need;
pid $OUT/nginx.pid;
error_log $OUT/error.log warn;

events {
    worker_connections $((2 * CONNS + 1024));
}

http {
    access_log $OUT/access.log;
    client_body_temp_path $OUT/tmp/client_body;
    proxy_temp_path $OUT/tmp/proxy;
    fastcgi_temp_path $OUT/tmp/fastcgi;
    uwsgi_temp_path $OUT/tmp/uwsgi;
    scgi_temp_path $OUT/tmp/scgi;

    # "Connection: upgrade" only when the client asked for an upgrade.
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }

    upstream ws13_echo {
EOF
    for port in "${BACKEND_PORTS[@]}"; do
        printf '        server 127.0.0.1:%s max_fails=1 fail_timeout=10s;\n' "$port"
    done
    cat <<EOF
    }

    server {
        listen 127.0.0.1:$PORT;

        location / {
            proxy_pass http://ws13_echo;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_connect_timeout 5s;
            # Longer than echo_server's 30 s keepalive: an idle WebSocket that answers the
            # server's pings is never cut by nginx.
            proxy_read_timeout 75s;
            proxy_send_timeout 75s;
        }
    }
}
EOF
} >"$OUT/nginx.conf"
"$NGINX" -t -p "$OUT" -c "$OUT/nginx.conf" -e "$OUT/error.log" >"$OUT/nginx-t.out" 2>&1 ||
    die "nginx -t rejected target/proxy/nginx.conf: $(cat "$OUT/nginx-t.out")"
"$NGINX" -p "$OUT" -c "$OUT/nginx.conf" -e "$OUT/error.log" >"$OUT/nginx.out" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
"$BIN/load_client" wait "127.0.0.1:$PORT" >/dev/null || die "nginx did not listen: $(cat "$OUT/error.log" "$OUT/nginx.out")"
log "nginx (PID $NGINX_PID) on 127.0.0.1:$PORT in front of ${BACKEND_PORTS[*]/#/127.0.0.1:}; configuration target/proxy/nginx.conf"

# ---- suites -------------------------------------------------------------------------------------
PASSED=0
FAILED=0
FAILURES=()
pass() { PASSED=$((PASSED + 1)); log "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); log "FAIL - $*"; }

# Connection lines in back end i's log (not its own startup lines), optionally matching $2.
conn_lines() {
    local n
    n=$(grep -v '^echo_server: ' "$OUT/backend$1.log" | grep -cE "${2:-.}" || true)
    echo "${n:-0}"
}

# run NAME LIMIT COMMAND...: runs a suite with its output indented under ours, and adds its
# own count: a `RESULT passed=N failed=M` line (the interop suites) or `load: N passed, N
# failed` (load_client). A suite that ends without one counts as one failure.
run() {
    local name="$1" limit="$2"
    shift 2
    local out="$OUT/$name.out" rc=0 t0
    t0=$(date +%s.%N)
    log "---- $name"
    timeout -k 5 "$limit" "$@" >"$out" 2>&1 || rc=$?
    sed 's/^/    /' "$out"
    local p f line
    line=$(grep -E '^(RESULT passed=[0-9]+ failed=[0-9]+|load: [0-9]+ passed, [0-9]+ failed)$' "$out" | tail -n 1 || true)
    if [[ -z "$line" ]]; then
        fail "$name: did not finish (exit $rc)"
    else
        p=$(grep -Eo '[0-9]+' <<<"$line" | sed -n 1p)
        f=$(grep -Eo '[0-9]+' <<<"$line" | sed -n 2p)
        PASSED=$((PASSED + p))
        FAILED=$((FAILED + f))
        [[ "$f" -eq 0 ]] || FAILURES+=("$name: $f failed")
        if [[ "$f" -eq 0 && "$rc" -ne 0 ]]; then
            fail "$name: exit status $rc"
        fi
        log "$name: $p passed, $f failed"
    fi
    log "$name took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s"
}

URL="127.0.0.1:$PORT"
if wants check; then
    run check 60 "$BIN/load_client" check "$URL"
fi

if wants browser; then
    run browser 300 env WS13_HTTP_URL="http://$URL/" WS13_SCREENSHOT="$OUT/echo_page.png" \
        CHROMIUM="$CHROMIUM" node "$DIR/browser.mjs"
fi

if wants python; then
    # The client part only (no WS13_CLIENT), and no server log to read: behind nginx, a
    # back end sees nginx's address, not the client's.
    run python 300 env WS13_ECHO_URL="ws://$URL/" "$VENV/bin/python" "$DIR/py_interop.py"
fi

if wants load; then
    before=()
    for ((i = 1; i <= BACKENDS; i++)); do before+=("$(conn_lines "$i" ": closed; $MESSAGES messages,")"); done
    run load 600 "$BIN/load_client" echo "$URL" "$CONNS" "$MESSAGES"
    total=0
    counts=()
    used=0
    for ((i = 1; i <= BACKENDS; i++)); do
        n=$(( $(conn_lines "$i" ": closed; $MESSAGES messages,") - before[i - 1] ))
        counts+=("back end $i: $n")
        total=$((total + n))
        [[ "$n" -gt 0 ]] && used=$((used + 1))
    done
    if [[ "$used" -eq "$BACKENDS" && "$total" -eq "$CONNS" ]]; then
        pass "load: every back end served some of the $CONNS connections, all $total of them between them (${counts[*]})"
    else
        fail "load: $used of $BACKENDS back ends used, $total of $CONNS connections logged as done (${counts[*]})"
    fi
fi

if wants failover; then
    victim=1
    others=$(seq 2 "$BACKENDS" | tr '\n' ' ')
    before_victim=$(conn_lines "$victim")
    before_others=0
    for i in $others; do before_others=$((before_others + $(conn_lines "$i"))); done
    log "failover: $RECONNECTING connections x 200 messages through nginx; back end $victim (PID ${BACKEND_PIDS[victim - 1]}) is killed 1.5 s in"
    "$BIN/load_client" reconnect "$URL" "$RECONNECTING" 200 20 >"$OUT/failover.out" 2>&1 &
    client=$!
    PIDS+=("$client")
    sleep 1.5
    kill -KILL "${BACKEND_PIDS[victim - 1]}"
    wait "${BACKEND_PIDS[victim - 1]}" 2>/dev/null || true
    killed_at=$(date +%s.%N)
    log "failover: back end $victim killed; it had logged $(( $(conn_lines "$victim") - before_victim )) connections of this stage (those still open when killed write no line)"
    rc=0
    timeout -k 5 300 tail --pid="$client" -f /dev/null || true
    wait "$client" || rc=$?
    sed 's/^/    /' "$OUT/failover.out"
    line=$(grep -E '^load: [0-9]+ passed, [0-9]+ failed$' "$OUT/failover.out" | tail -n 1 || true)
    moved=$(sed -nE 's/.* ([0-9]+) of them lost their connection.*/\1/p' "$OUT/failover.out")
    after_others=0
    for i in $others; do after_others=$((after_others + $(conn_lines "$i"))); done
    served=$((after_others - before_others))
    if [[ "$rc" -eq 0 && "$line" == "load: $RECONNECTING passed, 0 failed" && "${moved:-0}" -gt 0 ]]; then
        pass "failover: all $RECONNECTING connections echoed all 200 messages; ${moved} lost their back end and went on over a new connection to another (the other back ends logged $served connections of this stage)"
    else
        fail "failover: exit $rc, '${line:-no result}', ${moved:-0} connections moved to another back end"
    fi
    log "failover took $(awk -v a="$killed_at" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s after the kill"
    run check-after-failover 60 "$BIN/load_client" check "$URL"
fi

# ---- the processes survived ---------------------------------------------------------------------
if kill -0 "$NGINX_PID" 2>/dev/null; then
    pass "nginx still running; $(grep -c '\[error\]' "$OUT/error.log" || true) error lines in its log (a back end killed and clients that drop their connections make some)"
else
    fail "nginx died: $(tail -n 5 "$OUT/error.log")"
fi
for ((i = 1; i <= BACKENDS; i++)); do
    if grep -q panicked "$OUT/backend$i.log"; then
        fail "back end $i panicked: $(grep -m 1 panicked "$OUT/backend$i.log")"
    fi
    log "back end $i: $(conn_lines "$i") connections logged in all"
done

if ((${#FAILURES[@]})); then
    log "failures:"
    printf '[proxy]   %s\n' "${FAILURES[@]}"
fi
log "done in $(($(date +%s) - started))s"
echo "$PASSED passed, $FAILED failed"
[[ "$FAILED" -eq 0 ]]
