#!/usr/bin/env bash
# Fuzzes ws13 with cargo-fuzz (libFuzzer): bash scripts/fuzz.sh [SECONDS]
#
# SECONDS (default 60) is the time each target runs. Targets (fuzz/fuzz_targets/), their
# checks in fuzz/common over the test kit (testkit/):
#   handshake_server  RequestParser in arbitrary splits vs whole, Request accessors,
#                     write_accept / write_refusal / write_response_head into small buffers
#   handshake_client  ResponseParser in arbitrary splits vs whole
#   connection        proto::Connection (server and client roles) through a bounded
#                     buffer, in arbitrary splits, vs the same bytes whole; what it sends
#   blocking_server   Incoming::read + accept/respond + read/read_message/read_split loop
#   blocking_client   Connecting::handshake + the same loop
#   write_faults      the application's sends of every kind through writes and flushes
#                     that are short, time out, are interrupted and fail
# over a scripted transport with odd chunk sizes and timeouts (every interrupted call is
# made again). Inputs that once found a bug are kept in fuzz/regressions/<target>/ and
# replayed every time. Steps:
#   1. installs cargo-fuzz if it is missing (about 1.5 minutes, one core);
#   2. writes the seed corpus (fuzz/corpus/<target>/seed_*) from valid conversations and
#      the regression inputs, and replays it and fuzz/regressions in a release build with
#      panic = "abort" (fuzz/tools, stable toolchain);
#   3. builds the targets (nightly, release, debug assertions and overflow checks);
#   4. runs each target for SECONDS with -rss_limit_mb, -timeout=10, -max_len=8192;
#   5. replays the grown corpus again with the release panic = "abort" build.
# Exits non-zero on any crash, timeout or OOM (the input is kept in fuzz/artifacts/).
# Environment: FUZZ_RSS_MB (default 2048), FUZZ_TARGETS (space-separated subset),
# CARGO_BUILD_JOBS (default 1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"

secs=${1:-60}
rss=${FUZZ_RSS_MB:-2048}
read -r -a targets <<< "${FUZZ_TARGETS:-handshake_server handshake_client connection blocking_server blocking_client write_faults}"
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
started=$(date +%s)
log() { printf 'fuzz: %s\n' "$*"; }

if ! cargo +nightly --version >/dev/null 2>&1; then
    log "installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi
log "$(cargo fuzz --version), $(cargo +nightly --version)"

log "seed corpus and replay (release, panic = \"abort\")"
cargo build --quiet --release -p ws13-fuzz-tools
./target/release/gen_corpus corpus
./target/release/replay corpus regressions

log "building the targets"
cargo +nightly fuzz build -a -s none
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
bindir=target/$host/release

# Only artifacts written by this run count (older ones stay for inspection).
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT
passed=0
failed=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "artifacts/$t" "corpus/$t"
    out=$(mktemp)
    log "running $t for ${secs}s"
    set +e
    timeout --signal=KILL $((secs + 120)) "$bindir/$t" \
        -max_total_time="$secs" -rss_limit_mb="$rss" -timeout=10 -max_len=8192 \
        -dict=http.dict -print_final_stats=1 -close_fd_mask=1 \
        -artifact_prefix="artifacts/$t/" "corpus/$t" >"$out" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -n 1)
    rate=$(grep -Eo 'exec/s: [0-9]+' "$out" | tail -n 1 | awk '{print $2}')
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$out" | tail -n 1)
    files=$(find "corpus/$t" -type f | wc -l)
    found=$(find "artifacts/$t" -type f -newer "$marker" | wc -l)
    if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
        failed=$((failed + 1))
        summary+=("FAIL $t: exit $rc, ${execs:-?} execs, artifacts: $(find "artifacts/$t" -type f -newer "$marker" | tr '\n' ' ')")
        grep -E -A 12 'panicked at|ERROR: libFuzzer|SUMMARY' "$out" | head -n 40 || true
        log "reproduce: fuzz/$bindir/$t fuzz/artifacts/$t/<file>"
    else
        passed=$((passed + 1))
        summary+=("ok   $t: ${execs:-?} execs (${rate:-?}/s), $cov, corpus $files files")
    fi
    rm -f "$out"
done

log "replaying the grown corpus (release, panic = \"abort\")"
if ./target/release/replay corpus regressions; then
    passed=$((passed + 1))
else
    failed=$((failed + 1))
    summary+=("FAIL replay of the grown corpus")
fi

printf '\n'
for line in "${summary[@]}"; do log "$line"; done
elapsed=$(( $(date +%s) - started ))
log "done in ${elapsed}s"
printf 'fuzz: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
