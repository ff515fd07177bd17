#!/usr/bin/env bash
# ws13 on Cortex-M, under QEMU (machine lm3s6965evb). From any directory:
#
#   scripts/qemu-test.sh
#
# 1. installs what is missing (qemu-system-arm, arm-none-eabi binutils, thumb targets);
# 2. builds the library for MCUs: --no-default-features for thumbv6m-none-eabi (Cortex-M0)
#    and thumbv7em-none-eabihf (Cortex-M4F), and again with --features defmt;
# 3. runs the QEMU checks (qemu/tests/*.rs) on an emulated Cortex-M3 (`cargo qemu-test`),
#    Cortex-M0 and Cortex-M4;
# 4. runs the firmware example (qemu/src/bin/firmware_echo) on Cortex-M3 and Cortex-M4,
#    and the lean firmware (firmware_lean) on all three.
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
    for features in "" "defmt"; do
        cargo build --quiet --lib --no-default-features ${features:+--features "$features"} \
            --target "$target"
        echo "ok   ws13 --no-default-features${features:+ --features $features} builds for $target"
    done
done

stage "QEMU checks on Cortex-M3 (cargo qemu-test, thumbv7m-none-eabi)"
echo "     core: handshakes (RFC 6455 samples, refusals), frame headers, masking, UTF-8, close codes"
echo "     conversation: server and client over in-memory transports, replayed client<->server"
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

printf '\nqemu-test: all stages passed in %ss\n' "$((SECONDS - start))"
