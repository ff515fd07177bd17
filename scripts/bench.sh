#!/usr/bin/env bash
# Performance figures, each beside its peer from the same run (issue 5):
#   1. `cargo bench` at the root: ws13's micro-benchmarks (divan).
#   2. benches/compare `inmem`: unmasking / plain copy, UTF-8 validator / from_utf8, and a
#      whole server echo over an in-memory transport, ws13 / tungstenite, and ws13's async
#      driver / tokio-tungstenite (tokio's current-thread runtime), as ratios.
#   3. benches/compare `load`: examples/echo_server and a tungstenite echo server on
#      loopback, and ws13's async echo and a tokio-tungstenite one (both on tokio's
#      current-thread runtime), driven by the same load client: messages/s, MB/s, server
#      CPU per message, each pair as ratios.
# The comparison crate has its own workspace, so tungstenite never enters ws13's
# dependency graph. BENCH_QUICK=1 runs shorter rounds (CI runs it so: the figures are
# printed, never judged). Builds with -j 1 (shared machines). For a build for this CPU's
# vector width, RUSTFLAGS="-C target-cpu=x86-64-v3" bash scripts/bench.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=()
divan=()
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
    quick=(--quick)
    divan=(--sample-count 10)
fi
compare=(--manifest-path benches/compare/Cargo.toml --target-dir target/compare)

echo "==== machine"
echo "cores: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
rustc --version

echo "==== building (release, -j 1)"
cargo build --release -j 1 --example echo_server --quiet
cargo bench -j 1 --bench micro --no-run --quiet
cargo build --release -j 1 "${compare[@]}" --bins --quiet

echo "==== cargo bench (ws13 alone)"
cargo bench -j 1 --bench micro --quiet -- "${divan[@]}"

echo "==== ws13 beside its peers, in memory"
target/compare/release/inmem "${quick[@]}"

echo "==== loopback"
target/compare/release/load "${quick[@]}" \
    ws13=target/release/examples/echo_server \
    tungstenite=target/compare/release/tungstenite_echo \
    ws13-async=target/compare/release/ws13_async_echo \
    tokio-tungstenite=target/compare/release/tokio_tungstenite_echo
