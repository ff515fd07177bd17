#!/usr/bin/env bash
# Load tests of echo_server, all on 127.0.0.1: bash scripts/load-test.sh
#
#   1. echo:  LOAD_CONNS (default 1000) connections open at once, each echoing
#             LOAD_MESSAGES (default 100) text and binary messages of 1 B to 64 KiB,
#             every echo compared byte for byte; then the close handshake;
#   2. check: the server still serves (an echo conversation, a 64 KiB echo, the page);
#   3. stall: LOAD_STALLED (default 300) clients send half a handshake and stop; a normal
#             client must connect, echo and close within 2 s, five times, and the page
#             be served; then the server must let the stalled ones go (its handshake
#             deadline) within 30 s;
#   4. check again, once the stalled clients have gone.
# The client is examples/load_client.rs (ws13's own blocking client, one thread per
# connection). echo_server runs on a free port and is stopped by its PID. Every stage
# is bounded by `timeout`. Last line: `load: N passed, N failed`; exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

conns=${LOAD_CONNS:-1000}
messages=${LOAD_MESSAGES:-100}
stalled=${LOAD_STALLED:-300}
log() { printf 'load-test: %s\n' "$*"; }
started=$(date +%s)

# Each connection is a socket in the client and two descriptors in the server (the
# stream and the clone it lingers on; separate processes), and the stalled clients come
# on top: make room for all of them, with a margin. (Short of descriptors, echo_server
# spins on accept(): see LOAD_EMFILE below.)
need=$(( 3 * (conns + stalled) + 256 ))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
log "ulimit -n $(ulimit -n) (need about $need), ulimit -u $(ulimit -u)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
    log "cannot raise the open-file limit to $need (hard limit $(ulimit -Hn)): lower LOAD_CONNS"
    printf 'load: 0 passed, 1 failed\n'
    exit 1
fi

log "building echo_server and load_client (release)"
cargo build --quiet --release -j "${CARGO_BUILD_JOBS:-1}" --example echo_server --example load_client
bin=target/release/examples
port=$("$bin/load_client" free-port)
addr="127.0.0.1:$port"
server_log=$(mktemp)
"$bin/echo_server" "$addr" 2>"$server_log" &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -f "$server_log"
}
trap cleanup EXIT
"$bin/load_client" wait "$addr"
log "echo_server (PID $server) on $addr"

passed=0
failed=0
stage() {
    local name=$1 limit=$2
    shift 2
    log "stage $name (at most ${limit}s)"
    local out
    out=$(mktemp)
    local t0
    t0=$(date +%s.%N)
    set +e
    timeout --signal=KILL "$limit" "$bin/load_client" "$@" | tee "$out"
    local rc=${PIPESTATUS[0]}
    set -e
    local t1
    t1=$(date +%s.%N)
    local line
    line=$(grep -E '^load: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
    if [ -z "$line" ]; then
        log "stage $name: no result (exit $rc; 137 = killed by the time bound)"
        failed=$((failed + 1))
    else
        passed=$((passed + $(echo "$line" | awk '{print $2}')))
        failed=$((failed + $(echo "$line" | awk '{print $4}')))
        [ "$rc" -eq 0 ] || log "stage $name: exit $rc"
    fi
    log "stage $name took $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')s"
    if ! kill -0 "$server" 2>/dev/null; then
        log "echo_server died"
        failed=$((failed + 1))
    fi
    rm -f "$out"
}

stage echo 600 echo "$addr" "$conns" "$messages"
stage check 60 check "$addr"
stage stall 120 stall "$addr" "$stalled"
sleep 1
stage check-after-stall 60 check "$addr"

# Known bug (reported; opt-in like an ignored test): with its file descriptors used up,
# echo_server retries accept() at once, forever, logging each failure: a busy loop that
# writes millions of lines. LOAD_EMFILE=1 runs the reproducer: a second echo_server with
# `ulimit -n 64`, 100 held connections for 2 s; it fails if more than 1,000 lines of
# "accept failed" were logged.
if [ "${LOAD_EMFILE:-0}" = 1 ]; then
    log "stage emfile (known bug): echo_server under ulimit -n 64, 100 connections held 2 s"
    port2=$("$bin/load_client" free-port)
    emfile_log=$(mktemp)
    (ulimit -n 64; exec "$bin/echo_server" "127.0.0.1:$port2") 2>"$emfile_log" &
    server2=$!
    "$bin/load_client" wait "127.0.0.1:$port2" >/dev/null
    timeout 30 "$bin/load_client" hold "127.0.0.1:$port2" 100 2 || true
    kill "$server2" 2>/dev/null || true
    wait "$server2" 2>/dev/null || true
    lines=$(grep -c "accept failed" "$emfile_log" || true)
    size=$(du -h "$emfile_log" | cut -f1)
    rm -f "$emfile_log"
    if [ "$lines" -gt 1000 ]; then
        log "FAIL emfile: $lines \"accept failed\" lines ($size of log) in about 2 s: accept() is retried in a busy loop"
        failed=$((failed + 1))
    else
        log "ok   emfile: $lines \"accept failed\" lines in about 2 s"
        passed=$((passed + 1))
    fi
fi

# The server's own account: one log line per connection.
log "echo_server log: $(wc -l < "$server_log") connection lines; outcomes:"
sed -E 's/^[^ ]+: //; s/; [0-9]+ messages, [0-9]+ bytes echoed$//' "$server_log" \
    | sed -E 's/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -n 12
if grep -q "panicked" "$server_log"; then
    log "echo_server panicked"
    failed=$((failed + 1))
fi
log "server peak memory: $(grep -E '^VmHWM' "/proc/$server/status" 2>/dev/null | awk '{print $2, $3}' || echo '?'), threads now: $(ls "/proc/$server/task" 2>/dev/null | wc -l)"
log "done in $(( $(date +%s) - started ))s"
printf 'load: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
