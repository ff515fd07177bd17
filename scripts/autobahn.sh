#!/usr/bin/env bash
# Run the Autobahn|Testsuite WebSocket conformance cases against ws13, in both roles:
#   server role: wstest -m fuzzingclient  ->  target/release/examples/echo_server
#   client role: target/release/examples/autobahn_client  ->  wstest -m fuzzingserver
# Everything listens/connects on 127.0.0.1 only. Reports go to target/autobahn/{server,client}/
# (open index.html there for the suite's HTML report).
#
# Exit status is non-zero if any case is NON-STRICT, FAILED or UNIMPLEMENTED (or has a failing
# close behaviour), if any selected case is missing from a report, if a report is missing, or if
# one of the programs fails, dies early or times out. INFORMATIONAL results are accepted (the
# suite only reports them for cases it does not judge) but are listed.
#
# With AUTOBAHN_TARGET=firmware both roles test the ws13 firmware in qemu/net under QEMU: for
# the server role, scripts/qemu-net.sh serve builds the server firmware and boots it with its
# port 80 forwarded to AUTOBAHN_SERVER_PORT; for the client role, scripts/qemu-net.sh client
# builds the client firmware, which connects out through QEMU's user network to the fuzzing
# server (10.0.2.2 from the guest is the host's 127.0.0.1). Reports go to
# target/autobahn/firmware/, the summary lines read "firmware server: ..." and
# "firmware client: ...".
#
# Environment:
#   AUTOBAHN_TARGET        echo_server (default) or firmware
#   AUTOBAHN_ROLES         roles to run, space-separated (default "server client")
#   AUTOBAHN_CASES         comma-separated case patterns, e.g. "1.*,2.*" (default "*");
#                          12.* and 13.* (permessage-deflate) are always excluded
#   AUTOBAHN_SERVER_PORT   port for echo_server (default 9001)
#   AUTOBAHN_CLIENT_PORT   port for wstest's fuzzing server (default 9002)
#   AUTOBAHN_ROLE_TIMEOUT  seconds each role may take (default 1200)
#   AUTOBAHN_SKIP_BUILD=1  don't run cargo build
#   AUTOBAHN_DRIVER        blocking (default): echo_server and autobahn_client;
#                          async: async_echo_server and async_autobahn_client (feature async).
#                          Reports go to target/autobahn/ (blocking) or target/autobahn-async/.
#   AUTOBAHN_ECHO_SERVER, AUTOBAHN_CLIENT
#                          programs to test instead of the driver's two examples
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

AGENT=ws13
HOST=127.0.0.1
SERVER_PORT="${AUTOBAHN_SERVER_PORT:-9001}"
CLIENT_PORT="${AUTOBAHN_CLIENT_PORT:-9002}"
ROLE_TIMEOUT="${AUTOBAHN_ROLE_TIMEOUT:-1200}"
STARTUP_TIMEOUT=30   # seconds to wait for a listener to come up
KILL_AFTER=10        # seconds between SIGTERM and SIGKILL (timeout -k)
CASES="${AUTOBAHN_CASES:-*}"
DRIVER="${AUTOBAHN_DRIVER:-blocking}"
case "$DRIVER" in
    blocking) PREFIX=""; FEATURES="" ;;
    async) PREFIX="async_"; FEATURES="--features async" ;;
    *) echo "[autobahn] ERROR: AUTOBAHN_DRIVER must be blocking or async" >&2; exit 1 ;;
esac
ECHO_SERVER="${AUTOBAHN_ECHO_SERVER:-$ROOT/target/release/examples/${PREFIX}echo_server}"
CLIENT="${AUTOBAHN_CLIENT:-$ROOT/target/release/examples/${PREFIX}autobahn_client}"
TARGET="${AUTOBAHN_TARGET:-echo_server}"
case "$TARGET" in
echo_server)
    if [ "$DRIVER" = async ]; then OUT="$ROOT/target/autobahn-async"; LABEL="async "
    else OUT="$ROOT/target/autobahn"; LABEL=""; fi
    ROLES="${AUTOBAHN_ROLES:-server client}"
    ;;
firmware)
    OUT="$ROOT/target/autobahn/firmware"
    ROLES="${AUTOBAHN_ROLES:-server client}"
    LABEL="firmware "
    ;;
*) printf '[autobahn] ERROR: AUTOBAHN_TARGET must be echo_server or firmware, not %s\n' "$TARGET" >&2; exit 2 ;;
esac
FIRMWARE_STARTUP_TIMEOUT=900  # seconds for qemu-net.sh to build and boot the firmware

log() { printf '[autobahn] %s\n' "$*"; }
die() { printf '[autobahn] ERROR: %s\n' "$*" >&2; exit 1; }

failures=()
fail() { printf '[autobahn] FAIL: %s\n' "$*" >&2; failures+=("$*"); }

# PIDs of background `timeout` wrappers still running; killed on exit.
BG_PIDS=()
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_pid() {
    local pid=$1 p keep=()
    for p in "${BG_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    BG_PIDS=("${keep[@]}")
}

# start_bg LIMIT LOGFILE CMD... : run CMD under `timeout`, in the background, output to LOGFILE.
# Sets BG_PID to the timeout wrapper's PID (signals sent to it are forwarded to CMD).
start_bg() {
    local limit=$1 logfile=$2
    shift 2
    timeout -k "$KILL_AFTER" "$limit" "$@" >"$logfile" 2>&1 &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# The PID of the program a `timeout` wrapper runs.
child_of() {
    local pid=$1 c=""
    c="$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)"
    [ -n "$c" ] || c="$(pgrep -P "$pid" 2>/dev/null || true)"
    printf '%s\n' "${c%% *}" | head -n 1
}

# Peak resident set size (VmHWM, KiB) of PID, or nothing.
peak_rss_kib() {
    awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

# Is something listening on 127.0.0.1:PORT (or a wildcard address)? Reads /proc, makes no connection.
port_listening() {
    local hex f files=()
    hex="$(printf '%04X' "$1")"
    for f in /proc/net/tcp /proc/net/tcp6; do [ -r "$f" ] && files+=("$f"); done
    awk -v p=":$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { found = 1 }
                      END { exit !found }' "${files[@]}"
}

# wait_for_port PORT PID NAME : wait until PORT listens, while PID is alive; bounded.
wait_for_port() {
    local port=$1 pid=$2 name=$3 i
    for ((i = 0; i < STARTUP_TIMEOUT * 10; i++)); do
        if port_listening "$port"; then return 0; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            fail "$name exited before listening on $HOST:$port"
            return 1
        fi
        sleep 0.1
    done
    fail "$name not listening on $HOST:$port after ${STARTUP_TIMEOUT}s"
    return 1
}

# stop_bg PID : SIGTERM a background timeout wrapper (forwarded to its program) and reap it.
# Sets BG_STATUS to its exit status.
stop_bg() {
    local pid=$1
    BG_STATUS=0
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
    wait "$pid" || BG_STATUS=$?
    forget_pid "$pid"
}

# wait_bg PID [WATCH_PID] : wait for a background job, sampling WATCH_PID's peak RSS meanwhile
# (into PEAK_RSS). Sets BG_STATUS to the job's exit status.
wait_bg() {
    local pid=$1 watch=${2:-} v
    while kill -0 "$pid" 2>/dev/null; do
        if [ -n "$watch" ]; then
            v="$(peak_rss_kib "$watch")"
            [ -z "$v" ] || PEAK_RSS=$v
        fi
        sleep 0.5
    done
    BG_STATUS=0
    wait "$pid" || BG_STATUS=$?
    forget_pid "$pid"
}

describe_status() {
    case $1 in
        0) echo "exit 0" ;;
        124) echo "timed out (status 124)" ;;
        137) echo "killed (status 137)" ;;
        *) echo "status $1" ;;
    esac
}

show_log_tail() {
    log "last lines of $1:"
    tail -n 20 "$1" | sed 's/^/    /' >&2 || true
}

fmt_elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# --- setup -------------------------------------------------------------------
log "ensuring the Autobahn|Testsuite is installed"
"$ROOT/scripts/install-autobahn.sh"
WSTEST="$(command -v wstest)" || die "wstest not on PATH after install"

# The Python 2 interpreter wstest runs on, from its #! line.
read -r shebang <"$WSTEST" || true
read -r -a interp <<<"${shebang#\#!}"
PY2="${interp[0]}"
if [ "$(basename "$PY2")" = env ]; then PY2="$(command -v "${interp[1]}")"; fi
[ -x "$PY2" ] || die "cannot find wstest's Python interpreter (from '$shebang')"

if [ "$TARGET" = echo_server ]; then
    if [ "${AUTOBAHN_SKIP_BUILD:-0}" != 1 ]; then
        log "building ($DRIVER driver): cargo build --release $FEATURES --example ${PREFIX}echo_server --example ${PREFIX}autobahn_client"
        # shellcheck disable=SC2086  # FEATURES is empty or one flag and its value
        cargo build --release $FEATURES --example "${PREFIX}echo_server" --example "${PREFIX}autobahn_client"
    fi
    [ -x "$ECHO_SERVER" ] || die "$ECHO_SERVER not found or not executable"
    [ -x "$CLIENT" ] || die "$CLIENT not found or not executable"
fi

mkdir -p "$OUT"

# Case patterns as a JSON list, and the exact case ids they select (using the suite's own
# pattern matching), to detect cases missing from a report.
CASES_JSON="$(python3 -c '
import json, sys
print(json.dumps([c.strip() for c in sys.argv[1].split(",") if c.strip()]))' "$CASES")"
EXCLUDE_JSON='["12.*", "13.*"]'
"$PY2" -c '
import json, sys
from autobahntestsuite.case import Cases, CaseCategories, CaseSubCategories, CaseBasename, CaseSetname
from autobahntestsuite.caseset import CaseSet
cs = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories)
ids = cs.parseSpecCases({"cases": json.loads(sys.argv[1]), "exclude-cases": json.loads(sys.argv[2])})
known = set(cs.CasesIndices.keys())
json.dump([i for i in ids if i in known], open(sys.argv[3], "w"))
' "$CASES_JSON" "$EXCLUDE_JSON" "$OUT/expected-cases.json"
n_expected="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$OUT/expected-cases.json")"
[ "$n_expected" -gt 0 ] || die "AUTOBAHN_CASES='$CASES' selects no cases"
log "cases: $CASES_JSON minus $EXCLUDE_JSON = $n_expected cases"

# summarize ROLE DIR : print the per-role summary; non-zero if not fully conformant.
summarize() {
    python3 - "$1" "$2" "$AGENT" "$OUT/expected-cases.json" <<'PY'
import json, os, re, sys

role, outdir, agent, expected_file = sys.argv[1:5]
expected = json.load(open(expected_file))

index_path = os.path.join(outdir, "index.json")
if not os.path.isfile(index_path):
    print("%s: no report (%s missing)" % (role, index_path))
    sys.exit(1)
index = json.load(open(index_path))
if agent not in index:
    print("%s: no results for agent %r in %s (agents: %s)"
          % (role, agent, index_path, ", ".join(sorted(index)) or "none"))
    sys.exit(1)
results = index[agent]

# Buckets, best to worst. behaviorClose values outside these are mapped as the suite's
# HTML report colours them.
ORDER = ["OK", "INFORMATIONAL", "NON-STRICT", "UNIMPLEMENTED", "FAILED"]
MAP = {"WRONG CODE": "NON-STRICT", "FAILED BY CLIENT": "NON-STRICT",
       "UNCLEAN": "FAILED", "NO_CLOSE": "FAILED"}
ACCEPTABLE = {"OK", "INFORMATIONAL"}

def bucket(v):
    v = MAP.get(v, v)
    return v if v in ORDER else "FAILED"

def key(case_id):
    return tuple(int(x) for x in case_id.split("."))

def text(s):
    s = re.sub(r"<[^>]+>", " ", s or "")
    return " ".join(s.split())

counts = dict((b, 0) for b in ORDER)
listed = []
for case_id in sorted(results, key=key):
    r = results[case_id]
    b, bc = r.get("behavior", "?"), r.get("behaviorClose", "?")
    worst = max(bucket(b), bucket(bc), key=ORDER.index)
    counts[worst] += 1
    if b != "OK" or bc != "OK":
        listed.append((case_id, b, bc, r.get("reportfile"), worst))

missing = sorted(set(expected) - set(results), key=key)
line = "%s: %d cases: %s" % (role, len(results), " ".join("%s=%d" % (b, counts[b]) for b in ORDER))
if missing:
    line += " MISSING=%d" % len(missing)
print(line)

for case_id, b, bc, reportfile, worst in listed:
    desc = expect = result = ""
    if reportfile:
        try:
            rep = json.load(open(os.path.join(outdir, reportfile)))
            desc, expect = text(rep.get("description")), text(rep.get("expectation"))
            result = text(rep.get("result"))
            if rep.get("resultClose"):
                result += " / close: " + text(rep.get("resultClose"))
        except (IOError, OSError, ValueError) as e:
            desc = "(cannot read %s: %s)" % (reportfile, e)
    tag = "" if worst in ACCEPTABLE else " <-- FAIL"
    print("  %s %s/%s%s" % (case_id, b, bc, tag))
    print("      description: %s" % desc)
    print("      expectation: %s" % expect)
    if result:
        print("      result: %s" % result)
if missing:
    more = " ... (%d more)" % (len(missing) - 30) if len(missing) > 30 else ""
    print("  missing cases: %s%s" % (" ".join(missing[:30]), more))

bad = sum(counts[b] for b in ORDER if b not in ACCEPTABLE)
sys.exit(1 if bad or missing else 0)
PY
}

# write_spec FILE server|client OUTDIR URL : write a wstest spec file with the selected cases.
write_spec() {
    python3 -c '
import json, sys
path, role, outdir, url, agent, cases, exclude = sys.argv[1:8]
spec = {"outdir": outdir}
if role == "server":
    spec["servers"] = [{"agent": agent, "url": url}]
else:
    spec["url"] = url
spec["cases"] = json.loads(cases)
spec["exclude-cases"] = json.loads(exclude)
spec["exclude-agent-cases"] = {}
json.dump(spec, open(path, "w"), indent=2)
' "$1" "$2" "$3" "$4" "$AGENT" "$CASES_JSON" "$EXCLUDE_JSON"
}

# wstest's fuzzing server listens on all interfaces and has no option to change that; this runs
# wstest with its listen call bound to 127.0.0.1.
WSTEST_LOOPBACK='
import sys
from autobahntestsuite import wstest, fuzzing
from autobahn.twisted import websocket
def listen_loopback(factory, contextFactory=None, backlog=50, interface="127.0.0.1"):
    return websocket.listenWS(factory, contextFactory, backlog, interface)
fuzzing.listenWS = listen_loopback
sys.argv[0] = "wstest"
sys.exit(wstest.run())
'

SERVER_NAME=echo_server
[ "$TARGET" = echo_server ] || SERVER_NAME=firmware

# start_firmware DIR : scripts/qemu-net.sh serve on $HOST:$SERVER_PORT in the background (BG_PID),
# until it says "listening on" (it builds the firmware first). The firmware's lines go to
# DIR/firmware.log, the script's own to DIR/qemu-net.out.
start_firmware() {
    local dir=$1 i
    log "server role: building and booting the firmware: scripts/qemu-net.sh serve $HOST:$SERVER_PORT (log: $dir/qemu-net.out)"
    start_bg $((ROLE_TIMEOUT + FIRMWARE_STARTUP_TIMEOUT)) "$dir/qemu-net.out" env QEMU_NET_LOG="$dir/firmware.log" \
        bash "$ROOT/scripts/qemu-net.sh" serve "$HOST:$SERVER_PORT"
    for ((i = 0; i < FIRMWARE_STARTUP_TIMEOUT * 10; i++)); do
        grep -q '^listening on' "$dir/qemu-net.out" && return 0
        if ! kill -0 "$BG_PID" 2>/dev/null; then
            stop_bg "$BG_PID"
            fail "server role: qemu-net.sh serve exited before the firmware answered"
            show_log_tail "$dir/qemu-net.out"
            return 1
        fi
        sleep 0.1
    done
    stop_bg "$BG_PID"
    fail "server role: the firmware did not answer within ${FIRMWARE_STARTUP_TIMEOUT}s"
    show_log_tail "$dir/qemu-net.out"
    return 1
}

# --- server role: wstest fuzzingclient -> echo_server ------------------------------------
run_server_role() {
    local dir="$OUT/server" start server_tpid server_pid="" driver_pid
    rm -rf "$dir"
    mkdir -p "$dir"
    write_spec "$dir/spec.json" server "$dir" "ws://$HOST:$SERVER_PORT"

    if port_listening "$SERVER_PORT"; then
        fail "server role: port $SERVER_PORT is already in use (set AUTOBAHN_SERVER_PORT)"
        return
    fi
    if [ "$TARGET" = firmware ]; then
        start_firmware "$dir" || return
        server_tpid=$BG_PID
        start=$SECONDS
    else
        start=$SECONDS
        log "server role: starting $ECHO_SERVER $HOST:$SERVER_PORT (log: $dir/echo_server.log)"
        start_bg $((ROLE_TIMEOUT + 60)) "$dir/echo_server.log" "$ECHO_SERVER" "$HOST:$SERVER_PORT"
        server_tpid=$BG_PID
        if ! wait_for_port "$SERVER_PORT" "$server_tpid" echo_server; then
            stop_bg "$server_tpid"
            show_log_tail "$dir/echo_server.log"
            return
        fi
        server_pid="$(child_of "$server_tpid")"
    fi
    log "server role: $SERVER_NAME is up (pid ${server_pid:-$server_tpid}); running wstest -m fuzzingclient (log: $dir/wstest.log)"

    PEAK_RSS=""
    start_bg "$ROLE_TIMEOUT" "$dir/wstest.log" "$WSTEST" -m fuzzingclient -s "$dir/spec.json"
    driver_pid=$BG_PID
    wait_bg "$driver_pid" "$server_pid"
    if [ "$BG_STATUS" -ne 0 ]; then
        fail "server role: wstest fuzzingclient $(describe_status "$BG_STATUS")"
        show_log_tail "$dir/wstest.log"
    fi

    if [ "$TARGET" = firmware ]; then
        if kill -0 "$server_tpid" 2>/dev/null; then
            stop_bg "$server_tpid"
        else
            stop_bg "$server_tpid"
            fail "server role: the firmware (QEMU) exited during the run ($(describe_status "$BG_STATUS"))"
            show_log_tail "$dir/qemu-net.out"
        fi
        if grep -qiE 'panicked|HardFault' "$dir/firmware.log"; then
            fail "server role: the firmware panicked or faulted: $(grep -iE -m 3 'panicked|HardFault' "$dir/firmware.log")"
        fi
        log "firmware: $(grep -cE '^10\.0\.2\.2:' "$dir/firmware.log" || true) connections logged in $dir/firmware.log"
    elif [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        local v
        v="$(peak_rss_kib "$server_pid")"
        [ -z "$v" ] || PEAK_RSS=$v
        stop_bg "$server_tpid"
        case $BG_STATUS in
            0 | 143) ;;
            *) fail "server role: echo_server $(describe_status "$BG_STATUS") after SIGTERM" ;;
        esac
    else
        stop_bg "$server_tpid"
        fail "server role: echo_server exited during the run ($(describe_status "$BG_STATUS"))"
        show_log_tail "$dir/echo_server.log"
    fi
    [ "$TARGET" = firmware ] || log "echo_server peak RSS: ${PEAK_RSS:-unknown} KiB"
    log "server role took $(fmt_elapsed $((SECONDS - start)))"
    summarize "${LABEL}server" "$dir" || fail "server role: not fully conformant (see above)"
}

# --- client role: autobahn_client -> wstest fuzzingserver --------------------------------
run_client_role() {
    local dir="$OUT/client" start fuzz_pid client_pid
    rm -rf "$dir"
    mkdir -p "$dir"
    write_spec "$dir/spec.json" client "$dir" "ws://$HOST:$CLIENT_PORT"

    if port_listening "$CLIENT_PORT"; then
        fail "client role: port $CLIENT_PORT is already in use (set AUTOBAHN_CLIENT_PORT)"
        return
    fi
    start=$SECONDS
    log "client role: starting wstest -m fuzzingserver on $HOST:$CLIENT_PORT (log: $dir/wstest.log)"
    # -u 0: no embedded web server
    start_bg $((ROLE_TIMEOUT + 60)) "$dir/wstest.log" "$PY2" -c "$WSTEST_LOOPBACK" -m fuzzingserver -s "$dir/spec.json" -u 0
    fuzz_pid=$BG_PID
    if ! wait_for_port "$CLIENT_PORT" "$fuzz_pid" "wstest fuzzingserver"; then
        stop_bg "$fuzz_pid"
        show_log_tail "$dir/wstest.log"
        return
    fi

    if [ "$TARGET" = firmware ]; then
        log "client role: building and booting the client firmware: scripts/qemu-net.sh client $CLIENT_PORT (log: $dir/autobahn_client.log)"
        start_bg $((ROLE_TIMEOUT + FIRMWARE_STARTUP_TIMEOUT)) "$dir/autobahn_client.log" \
            bash "$ROOT/scripts/qemu-net.sh" client "$CLIENT_PORT"
    else
        log "client role: running $CLIENT ws://$HOST:$CLIENT_PORT $AGENT (log: $dir/autobahn_client.log)"
        start_bg "$ROLE_TIMEOUT" "$dir/autobahn_client.log" "$CLIENT" "ws://$HOST:$CLIENT_PORT" "$AGENT"
    fi
    client_pid=$BG_PID
    wait_bg "$client_pid"
    if [ "$BG_STATUS" -ne 0 ]; then
        fail "client role: ${LABEL}autobahn_client $(describe_status "$BG_STATUS")"
        show_log_tail "$dir/autobahn_client.log"
    fi

    if kill -0 "$fuzz_pid" 2>/dev/null; then
        stop_bg "$fuzz_pid"
    else
        stop_bg "$fuzz_pid"
        fail "client role: wstest fuzzingserver exited during the run ($(describe_status "$BG_STATUS"))"
        show_log_tail "$dir/wstest.log"
    fi
    log "client role took $(fmt_elapsed $((SECONDS - start)))"
    summarize "${LABEL}client" "$dir" || fail "client role: not fully conformant (see above)"
}

for role in $ROLES; do
    case "$role" in
    server) run_server_role ;;
    client) run_client_role ;;
    *) die "unknown role: $role" ;;
    esac
done

if [ ${#failures[@]} -eq 0 ]; then
    log "PASS: ${LABEL}roles $ROLES fully conformant ($n_expected cases each); reports in $OUT/<role>/index.html"
    exit 0
fi
log "FAILED (${#failures[@]}):"
printf '  - %s\n' "${failures[@]}" >&2
exit 1
