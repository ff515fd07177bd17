#!/usr/bin/env bash
# Code size of ws13 in firmware. From any directory:
#
#   scripts/firmware-size.sh [TARGET...]     (default: thumbv6m-none-eabi thumbv7em-none-eabihf)
#
# Builds two binaries of the qemu/ crate with its `size` profile (opt-level "s", LTO,
# codegen-units 1, panic abort):
#   firmware_lean   the firmware's application (qemu/src/bin/firmware_echo/app.rs: page,
#                   upgrade, echo) over a stand-in socket, and nothing else: what ws13
#                   costs a device;
#   firmware_echo   the same application plus the scripted browser, the checks and
#                   formatted output over semihosting (test harness, not firmware).
# For each it prints .text/.rodata/.data/.bss (arm-none-eabi-size -A) and how much of
# .text is in symbols of ws13, sha1_smol and base64ct (arm-none-eabi-nm -S -C). With LTO,
# code inlined into a caller counts as the caller's: the ws13 figure is a lower bound,
# and the application's own functions (serve, main) hold the rest of ws13's inlined code.
# Finally it runs both size builds under QEMU, which prints the stack used by serve().
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
scripts/qemu-setup.sh >/dev/null
# Where cargo puts the qemu crate's builds (its own workspace: qemu/target).
target_dir="${CARGO_TARGET_DIR:-qemu/target}"

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(thumbv6m-none-eabi thumbv7em-none-eabihf)
bins=(firmware_lean firmware_echo)

# Sum of the sizes of text symbols whose demangled name contains $2, in ELF $1.
text_of() {
    arm-none-eabi-nm -S --size-sort -C --radix=d "$1" |
        awk -v pat="$2" '$3 ~ /^[tTwW]$/ && index($0, pat) { s += ($2 + 0) } END { print s + 0 }'
}
section() {
    arm-none-eabi-size -A "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}

printf '%-22s %-14s %7s %8s %6s %6s %7s | %6s %6s %9s %8s\n' \
    target binary .text .rodata .data .bss flash ws13 "(%)" sha1_smol base64ct
for target in "${targets[@]}"; do
    for bin in "${bins[@]}"; do
        cargo build --quiet --manifest-path qemu/Cargo.toml --profile size --target "$target" \
            --bin "$bin"
        elf="$target_dir/$target/size/$bin"
        text=$(section "$elf" .text)
        rodata=$(section "$elf" .rodata)
        data=$(section "$elf" .data)
        bss=$(section "$elf" .bss)
        vectors=$(section "$elf" .vector_table)
        flash=$((vectors + text + rodata + data))
        ws13=$(text_of "$elf" "ws13::")
        sha1=$(text_of "$elf" "sha1_smol::")
        b64=$(text_of "$elf" "base64ct::")
        printf '%-22s %-14s %7d %8d %6d %6d %7d | %6d %5d%% %9d %8d\n' \
            "$target" "$bin" "$text" "$rodata" "$data" "$bss" "$flash" \
            "$ws13" "$((100 * ws13 / text))" "$sha1" "$b64"
    done
done

for target in "${targets[@]}"; do
    elf="$target_dir/$target/size/firmware_lean"
    printf '\nLargest ws13 functions in firmware_lean for %s (bytes, after inlining):\n' "$target"
    arm-none-eabi-nm -S --size-sort -C --radix=d "$elf" |
        awk '$3 ~ /^[tTwW]$/ && (index($0, "ws13::") || index($0, "sha1_smol::") || index($0, "base64ct::") || index($0, "app::serve") || index($0, "main")) { printf "  %6d  %s\n", ($2 + 0), substr($0, index($0, $4)) }' |
        sort -rn | head -n 12
done

printf '\nStack, size builds under QEMU:\n'
for target in "${targets[@]}"; do
    for bin in "${bins[@]}"; do
        printf '  %-22s %-14s ' "$target" "$bin"
        cargo run --quiet --manifest-path qemu/Cargo.toml --profile size --target "$target" \
            --bin "$bin" 2>/dev/null | grep -E '^(stack|firmware_lean)' | tr '\n' ' '
        echo
    done
done
