#!/usr/bin/env bash
# ws13 on Cortex-M, under QEMU (machine lm3s6965evb). From any directory:
#
#   scripts/qemu-test.sh
#
# 1. installs what is missing (qemu-system-arm, arm-none-eabi binutils, thumb targets);
# 2. builds the library for MCUs: --no-default-features for thumbv6m-none-eabi (Cortex-M0)
#    and thumbv7em-none-eabihf (Cortex-M4F), and again with --features defmt and async;
# 3. runs the QEMU checks (qemu/tests/*.rs: the test kit's checks, the same the host
#    runs) on an emulated Cortex-M3 (`cargo qemu-test`), Cortex-M0 and Cortex-M4;
# 4. runs the firmware example (qemu/src/bin/firmware_echo) on Cortex-M3 and Cortex-M4,
#    and the lean firmware (firmware_lean) on all three;
# 5. runs the async driver on embassy-executor (qemu/async): a conversation of tasks (a
#    server, a client's reader and writer halves) and the async firmware, on all three;
# 6. runs ws13 with its defmt feature (qemu/defmt) and decodes the log with defmt-print.
#
# Any failed check, fault (HardFault handler exits 1) or hang (`timeout 120` in the
# runner exits 124) stops the script with a non-zero status. CARGO_BUILD_JOBS defaults to 1.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
start=$SECONDS

stage() { printf '\n=== %s\n' "$*"; }
# QEMU's harmless "Timer with period zero, disabling" on stderr is dropped.
quiet_qemu() { "$@" 2>&1 | grep -v '^Timer with period zero, disabling$'; }

stage "tools"
scripts/qemu-setup.sh

stage "library builds for MCUs (no_std, no allocator)"
for target in thumbv6m-none-eabi thumbv7em-none-eabihf; do
    for features in "" "defmt" "async"; do
        cargo build --quiet --lib --no-default-features ${features:+--features "$features"} \
            --target "$target"
        echo "ok   ws13 --no-default-features${features:+ --features $features} builds for $target"
    done
done

stage "QEMU checks on Cortex-M3 (cargo qemu-test, thumbv7m-none-eabi)"
echo "     core: the kit's checks::PARTS: handshakes (RFC 6455 samples, byte-wise, refusals), frame"
echo "           headers, masking, UTF-8, every close code; the connection's state (<= 80 bytes)"
echo "     conversation: the kit's checks::CONVERSATIONS, both roles, segments of 1 to 4096 bytes,"
echo "           then with timeouts, interruptions and short reads and writes injected"
quiet_qemu cargo qemu-test --quiet

stage "QEMU checks on Cortex-M0 (thumbv6m-none-eabi) and Cortex-M4F (thumbv7em-none-eabihf)"
for target in thumbv6m-none-eabi thumbv7em-none-eabihf; do
    echo "--- $target"
    quiet_qemu cargo test --quiet --manifest-path qemu/Cargo.toml --target "$target"
done

stage "firmware example under QEMU"
for target in thumbv7m-none-eabi thumbv7em-none-eabihf; do
    echo "--- firmware_echo on $target"
    quiet_qemu cargo run --quiet --manifest-path qemu/Cargo.toml --target "$target" \
        --bin firmware_echo
done
for target in thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf; do
    echo "--- firmware_lean on $target"
    quiet_qemu cargo run --quiet --manifest-path qemu/Cargo.toml --target "$target" \
        --bin firmware_lean
done

stage "async driver on embassy-executor (qemu/async), Cortex-M0, M3 and M4"
echo "     conversation: the kit's checks::asynch as tasks over an in-memory async pipe: a server,"
echo "           the client's handshake, then its reader and writer halves (pings answered);"
echo "           then with every operation dropped at a wake-up and made again"
for target in thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf; do
    echo "--- $target"
    quiet_qemu cargo test --quiet --manifest-path qemu/async/Cargo.toml --target "$target"
    quiet_qemu cargo run --quiet --manifest-path qemu/async/Cargo.toml --target "$target" \
        --bin firmware_async
done

stage "defmt: events and errors logged on a Cortex-M3 (qemu/defmt), decoded on the host"
if ! command -v defmt-print >/dev/null; then
    echo "installing defmt-print (cargo install, a few minutes)"
    cargo install defmt-print --locked --quiet
fi
(cd qemu/defmt && cargo build --quiet)
elf=qemu/defmt/target/thumbv7m-none-eabi/debug/defmt_demo
raw=$(mktemp)
status=0
timeout 120 qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -nographic \
    -semihosting-config enable=on,target=native -kernel "$elf" >"$raw" 2>/dev/null || status=$?
decoded=$(defmt-print -e "$elf" stdin <"$raw")
rm -f "$raw"
echo "$decoded"
[ "$status" -eq 0 ] || { echo "defmt demo failed (exit $status)"; exit 1; }
for expected in "INFO  request for /chat from http://device.local" \
    "INFO  event: Ping(" "WARN  connection failed: protocol error: UnmaskedFrame"; do
    grep -qF "$expected" <<<"$decoded" || { echo "missing from the decoded log: $expected"; exit 1; }
done
echo "ok   defmt output decoded: request, events and the protocol error"

printf '\nqemu-test: all stages passed in %ss\n' "$((SECONDS - start))"
