#!/usr/bin/env bash
# The whole test suite: formatting, lints, docs, unit and integration tests (no_std and
# std), Autobahn|Testsuite conformance in both roles, interop with real peers (also over
# TLS), echo_server behind nginx, and the same against the firmware on a real network
# stack under QEMU. Installs what it needs.
# Exits non-zero on the first failed stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stage() { printf '\n==== %s\n' "$*"; }
started=$(date +%s)
# Test output is also kept here, to count what passed at the end.
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

stage "toolchain: rustfmt and clippy"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo --version
cargo fmt --version
cargo clippy --version

stage "cargo fmt --check: every file formatted"
cargo fmt --all -- --check

stage "cargo clippy --all-targets --all-features -D warnings: no lint anywhere"
cargo clippy --workspace --all-targets --all-features -- -D warnings

stage "cargo doc: every public item documented, no broken links"
RUSTDOCFLAGS="-D warnings -D missing_docs" cargo doc --no-deps --all-features --quiet

stage "rust-version: the declared toolchain builds and tests everything (all features)"
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
rustup toolchain install "$msrv" --profile minimal >/dev/null
cargo "+$msrv" --version
cargo "+$msrv" test --locked --all-features 2>&1 | tail -n 3

stage "cargo publish --dry-run: the package builds from what it ships"
cargo publish --dry-run --locked 2>&1 | tail -n 3

stage "cargo test --no-default-features --lib: the core's unit tests without std"
cargo test --no-default-features --lib 2>&1 | tee -a "$LOG"

stage "cargo test: unit, in-memory pipe, loopback TCP, async and doc tests (all features)"
cargo test --all-targets --all-features 2>&1 | tee -a "$LOG"
cargo test --doc --all-features 2>&1 | tee -a "$LOG"

stage "Autobahn|Testsuite cases 1-10, server and client roles, strict: blocking driver"
bash scripts/autobahn.sh 2>&1 | tee -a "$LOG"

stage "Autobahn|Testsuite cases 1-10, server and client roles, strict: async driver"
AUTOBAHN_DRIVER=async bash scripts/autobahn.sh 2>&1 | tee -a "$LOG"

stage "fuzzing: 6 cargo-fuzz targets, ${FUZZ_SECONDS:-60}s each, corpus replayed with panic=abort"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}" 2>&1 | tee -a "$LOG"

stage "load: 1,000 concurrent echo connections x 100 messages; 300 stalled handshakes; lockout: a peer that does not read, 1,100 trickling WebSockets under ulimit -n 1024 while a normal client is served within 1 s, connections beyond the descriptors answered 503"
bash scripts/load-test.sh 2>&1 | tee -a "$LOG"

stage "Cortex-M: no_std builds for thumbv6m and thumbv7em (plain and defmt), core tests and firmware example under QEMU"
bash scripts/qemu-test.sh 2>&1 | tee -a "$LOG"

stage "firmware size: .text/.data/.bss and ws13's share, thumbv6m and thumbv7em"
bash scripts/firmware-size.sh

stage "interop with real peers: Chromium (the echo page), Python websockets, Node ws"
bash scripts/interop.sh 2>&1 | tee -a "$LOG"

stage "interop over TLS (rustls by composition): Chromium (the page over https, its sockets over wss) and Python ssl + websockets against wss_echo_server; a websockets wss server for wss_client"
INTEROP_TARGET=wss INTEROP_SKIP_BUILD=1 bash scripts/interop.sh 2>&1 | tee -a "$LOG"

stage "behind nginx: 2 echo_servers in one upstream; Chromium, Python websockets, 1,000 connections x 100 messages over both back ends, a back end killed mid-test and its clients reconnected to the other"
bash scripts/proxy-test.sh 2>&1 | tee -a "$LOG"

stage "firmware on a network stack (qemu/net: ws13 + smoltcp on an emulated LM3S6965): HTTP and WebSocket checks, Chromium/Python/Node against it, Autobahn cases 1-10 in both roles, strict"
bash scripts/qemu-net.sh test 2>&1 | tee -a "$LOG"
INTEROP_TARGET=firmware bash scripts/interop.sh 2>&1 | tee -a "$LOG"
AUTOBAHN_TARGET=firmware bash scripts/autobahn.sh 2>&1 | tee -a "$LOG"

stage "benchmarks: ws13's own (divan) and the comparison with tungstenite build and run once, briefly (figures printed, not judged)"
BENCH_QUICK=1 bash scripts/bench.sh

elapsed=$(( $(date +%s) - started ))
printf '\n==== all stages passed in %dm%02ds\n' $((elapsed / 60)) $((elapsed % 60))
# Rust tests that passed, Autobahn cases judged OK (or informational) per role and target,
# and interop checks (examples, behind nginx, and firmware; each script ends with its own
# total line).
rust=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$LOG" | awk '{s += $4} END {print s + 0}')
interop=$(grep -E '^[0-9]+ passed, 0 failed$' "$LOG" | awk '{s += $1} END {print s + 0}')
autobahn=$(grep -E '^(firmware |async )?(server|client): [0-9]+ cases: ' "$LOG" | grep -Eo '(OK|INFORMATIONAL)=[0-9]+' | awk -F= '{s += $2} END {print s + 0}')
# Each of these scripts ends with its own total: count only its last line.
others=0
for name in fuzz load; do
    n=$(grep -E "^$name: [0-9]+ passed, 0 failed" "$LOG" | tail -n 1 | awk '{print $2}')
    others=$((others + ${n:-0}))
done
printf 'rust tests: %d, Autobahn cases (both roles: both drivers and the firmware): %d, interop, proxy and firmware checks: %d, fuzz and load checks: %d\n' \
    "$rust" "$autobahn" "${interop:-0}" "$others"
printf 'total: %d passed, 0 failed\n' $((rust + autobahn + ${interop:-0} + others))
