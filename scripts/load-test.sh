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
#   4. check again, once the stalled clients have gone;
#   5. lockout: a second echo_server, run as most systems run it, under `ulimit -n 1024`
#             with its default limit of 512 connections (and `--message-timeout 10
#             --send-timeout 10`, to keep this short): first a peer that sends a large frame
#             and reads nothing must be dropped 10 s (+ up to 5) after its sends stall; then
#             LOAD_TRICKLING (default 1100) WebSockets each start a message and trickle one
#             byte of it every 5 s, reopened 1 s after each refusal or close, for 12 s;
#             meanwhile a normal client must connect, echo and close, and the page be
#             served, within 1 s, every half second (a 503 tried again 50 ms later, within
#             that second); then the server must close every
#             trickling connection within the message timeout + 2 s. The server's threads
#             and descriptors are sampled throughout;
#   6. refused: a third echo_server under `ulimit -n 64` (so its limit of 512 connections
#             is more than its descriptors allow): 100 connections that send nothing must
#             each be answered, by a 503 within 1 s (the descriptor kept in reserve) or
#             closed at the handshake deadline, none left in the listen queue; then it
#             serves again.
# The client is examples/load_client.rs (ws13's own blocking client, one thread per
# connection). Each echo_server runs on a free port and is stopped by its PID. Every stage
# is bounded by `timeout`. Last line: `load: N passed, N failed`; exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

conns=${LOAD_CONNS:-1000}
messages=${LOAD_MESSAGES:-100}
stalled=${LOAD_STALLED:-300}
log() { printf 'load-test: %s\n' "$*"; }
started=$(date +%s)

trickling=${LOAD_TRICKLING:-1100}
# Each connection is a socket in the client and one in the server (separate processes),
# and the stalled clients come on top; the trickling ones of the lockout stage need room
# in the client: make room for all of them, with a margin. The lockout and refused stages
# lower the limit again for their own servers.
need=$(( 3 * (conns + stalled) + 256 ))
[ "$need" -gt $((trickling + 512)) ] || need=$((trickling + 512))
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
# Room for every connection of the echo stage and then the stalled ones.
"$bin/echo_server" "$addr" --max-connections $((conns + stalled + 64)) 2>"$server_log" &
server=$!
watched=$server
server2=""
server3=""
sampler=""
cleanup() {
    for pid in $sampler $server $server2 $server3; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -f "$server_log" "${lockout_log:-}" "${refused_log:-}" "${samples:-}"
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
    if ! kill -0 "$watched" 2>/dev/null; then
        log "echo_server (PID $watched) died"
        failed=$((failed + 1))
    fi
    rm -f "$out"
}

stage echo 600 echo "$addr" "$conns" "$messages"
stage check 60 check "$addr"
stage stall 120 stall "$addr" "$stalled"
sleep 1
stage check-after-stall 60 check "$addr"

# The lockout stage: an echo_server as most systems would run it, under `ulimit -n 1024`
# with its default connection limit; shorter message and send timeouts keep it brief.
lockout_log=$(mktemp)
samples=$(mktemp)
port2=$("$bin/load_client" free-port)
addr2="127.0.0.1:$port2"
(ulimit -n 1024; exec "$bin/echo_server" "$addr2" --message-timeout 10 --send-timeout 10) 2>"$lockout_log" &
server2=$!
watched=$server2
"$bin/load_client" wait "$addr2" >/dev/null
log "echo_server (PID $server2) on $addr2 under ulimit -n 1024: $(sed -n 2p "$lockout_log" | sed 's/^echo_server: //')"
# Its threads and descriptors, every half second.
(
    while kill -0 "$server2" 2>/dev/null; do
        printf '%s %s\n' "$(ls "/proc/$server2/task" 2>/dev/null | wc -l)" "$(ls "/proc/$server2/fd" 2>/dev/null | wc -l)"
        sleep 0.5
    done
) >"$samples" 2>/dev/null &
sampler=$!
stage deaf 60 deaf "$addr2" 10
stage lockout 120 lockout "$addr2" "$trickling" 12 10
stage check-after-lockout 60 check "$addr2"
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=""
log "lockout server: at most $(sort -n "$samples" | tail -n 1 | awk '{print $1}') threads and $(sort -k2 -n "$samples" | tail -n 1 | awk '{print $2}') open descriptors (limit 1024), peak memory $(grep -E '^VmHWM' "/proc/$server2/status" 2>/dev/null | awk '{print $2, $3}' || echo '?'); $(grep -c 'accept failed' "$lockout_log" || true) accept failures logged; outcomes:"
grep -v '^echo_server: ' "$lockout_log" | sed -E 's/^[^ ]+: //; s/; [0-9]+ messages, [0-9]+ bytes echoed$//' \
    | sed -E 's/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -n 12
if grep -q "panicked" "$lockout_log"; then
    log "the lockout echo_server panicked"
    failed=$((failed + 1))
fi
kill "$server2" 2>/dev/null || true
wait "$server2" 2>/dev/null || true

# The refused stage: fewer descriptors than the connection limit; the one in reserve
# answers 503 when accept() runs out.
refused_log=$(mktemp)
port3=$("$bin/load_client" free-port)
addr3="127.0.0.1:$port3"
(ulimit -n 64; exec "$bin/echo_server" "$addr3") 2>"$refused_log" &
server3=$!
watched=$server3
"$bin/load_client" wait "$addr3" >/dev/null
log "echo_server (PID $server3) on $addr3 under ulimit -n 64 (limit 512 connections)"
stage refused 60 refused "$addr3" 100
sleep 1
stage check-after-refused 60 check "$addr3"
log "refused server: $(grep -c 'refused with 503' "$refused_log" || true) refused with 503, $(grep -c 'accept failed' "$refused_log" || true) accept failures logged"
kill "$server3" 2>/dev/null || true
wait "$server3" 2>/dev/null || true

# The server's own account: one log line per connection.
log "echo_server log: $(grep -vc '^echo_server: ' "$server_log") connection lines; outcomes:"
grep -v '^echo_server: ' "$server_log" | sed -E 's/^[^ ]+: //; s/; [0-9]+ messages, [0-9]+ bytes echoed$//' \
    | sed -E 's/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -n 12
if grep -q "panicked" "$server_log"; then
    log "echo_server panicked"
    failed=$((failed + 1))
fi
log "server peak memory: $(grep -E '^VmHWM' "/proc/$server/status" 2>/dev/null | awk '{print $2, $3}' || echo '?'), threads now: $(ls "/proc/$server/task" 2>/dev/null | wc -l)"
log "done in $(( $(date +%s) - started ))s"
printf 'load: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
