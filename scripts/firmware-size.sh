#!/usr/bin/env bash
# Code size of ws13 in firmware. From any directory:
#
#   scripts/firmware-size.sh [TARGET...]     (default: thumbv7em-none-eabihf thumbv6m-none-eabi)
#
# Part 1 builds two binaries of the qemu/ crate and one of qemu/async with their `size`
# profile (opt-level "s", LTO, codegen-units 1, panic abort):
#   firmware_lean   the firmware's application (qemu/src/bin/firmware_echo/app.rs: page,
#                   upgrade, echo) over a stand-in socket, and nothing else: what ws13
#                   costs a device;
#   firmware_echo   the same application plus the scripted browser, the checks and
#                   formatted output over semihosting (test harness, not firmware);
#   firmware_async  firmware_lean's application on ws13's async driver (qemu/async/src/bin/
#                   firmware_async: the same page, upgrade and echo, awaited) over an async
#                   stand-in socket, run by embassy-executor's thread-mode executor: what
#                   the async driver costs next to the blocking one.
# For each it prints .text/.rodata/.data/.bss (arm-none-eabi-size -A) and how much of
# .text is in symbols of ws13, sha1_smol and base64ct (arm-none-eabi-nm -S -C). With LTO,
# code inlined into a caller counts as the caller's: the ws13 figure is a lower bound,
# and the application's own functions (serve, main) hold the rest of ws13's inlined code.
# Then it runs the size builds under QEMU, which print the stack used by serve() (and, for
# firmware_async, the size of serve()'s future, which lives in the task's static storage),
# and compares firmware_async with firmware_lean.
#
# Part 2 compares ws13 with embedded-websocket 0.9.5 on one firmware skeleton (qemu/size,
# its own workspace, same profile plus line tables): `skeleton` (scripted transport, stack
# paint, checks), `ws13_server` and `ews_server` (the skeleton plus a server that answers a
# real Chromium upgrade, echoes "hello" and the close, and serves a page). Each runs under
# QEMU and must pass its own checks; it reports the stack its server used (painting) and
# the smallest receive buffer that still works. The script prints .text/.rodata/.bss/stack
# and the growth over the skeleton, then qemu/size/attribute.py attributes every byte of
# .text to a crate through the DWARF line table, so code inlined by LTO counts for the
# crate whose source it is. The last lines, one a target:
#   size TARGET: ws13 +N .text +N .rodata +N stack; embedded-websocket +N .text +N .rodata +N stack
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
scripts/qemu-setup.sh >/dev/null
# Part 2's attribution is a Python script (standard library only).
if ! command -v python3 >/dev/null; then
    echo "firmware-size: apt-get install python3"
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-minimal >/dev/null
fi
# Where cargo puts the qemu crates' builds (their own workspaces: qemu/target and
# qemu/async/target).
target_dir="${CARGO_TARGET_DIR:-qemu/target}"
async_target_dir="${CARGO_TARGET_DIR:-qemu/async/target}"

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(thumbv7em-none-eabihf thumbv6m-none-eabi)
bins=(firmware_lean firmware_echo firmware_async)

# The manifest and the ELF of a size build of $1 for target $2.
manifest_of() {
    if [ "$1" = firmware_async ]; then echo qemu/async/Cargo.toml; else echo qemu/Cargo.toml; fi
}
elf_of() {
    if [ "$1" = firmware_async ]; then
        echo "$async_target_dir/$2/size/$1"
    else
        echo "$target_dir/$2/size/$1"
    fi
}

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
        cargo build --quiet --manifest-path "$(manifest_of "$bin")" --profile size \
            --target "$target" --bin "$bin"
        elf=$(elf_of "$bin" "$target")
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
declare -A future=()
for target in "${targets[@]}"; do
    for bin in "${bins[@]}"; do
        printf '  %-22s %-14s ' "$target" "$bin"
        if ! out=$(cargo run --quiet --manifest-path "$(manifest_of "$bin")" --profile size \
            --target "$target" --bin "$bin" 2>/dev/null); then
            printf '\nfirmware-size: %s failed under QEMU on %s:\n%s\n' "$bin" "$target" "$out" >&2
            exit 1
        fi
        grep -E '^(stack|firmware_lean|firmware_async)' <<<"$out" | tr '\n' ' '
        echo
        [ "$bin" = firmware_async ] &&
            future[$target]=$(sed -n "s/.*serve()'s future: \([0-9]*\) bytes.*/\1/p" <<<"$out")
    done
done

# The async driver against the blocking one: the same application, the same profile.
printf '\nws13 async (firmware_async, on embassy-executor) against blocking (firmware_lean):\n'
for target in "${targets[@]}"; do
    lean=$(elf_of firmware_lean "$target")
    async=$(elf_of firmware_async "$target")
    lean_text=$(section "$lean" .text)
    async_text=$(section "$async" .text)
    executor=$(text_of "$async" "embassy_executor")
    printf '  %-22s .text %6d blocking, %6d async (%+d, of which embassy-executor %d); ' \
        "$target" "$lean_text" "$async_text" "$((async_text - lean_text))" "$executor"
    printf '.bss %d and %d; serve()'"'"'s future %s bytes\n' "$(section "$lean" .bss)" \
        "$(section "$async" .bss)" "${future[$target]:-?}"
done

# Part 2: ws13 against embedded-websocket on one skeleton.
size_target_dir="${CARGO_TARGET_DIR:-qemu/size/target}"
declare -A cpu=([thumbv6m-none-eabi]=cortex-m0 [thumbv7m-none-eabi]=cortex-m3
    [thumbv7em-none-eabihf]=cortex-m4)
summary=()
for target in "${targets[@]}"; do
    cargo build --quiet --manifest-path qemu/size/Cargo.toml --release --target "$target" --bins
    dir="$size_target_dir/$target/release"
    declare -A text=() rodata=() bss=() stack=() minrx=()
    for bin in skeleton ws13_server ews_server; do
        elf="$dir/$bin"
        if ! out=$(timeout 120 qemu-system-arm -cpu "${cpu[$target]}" -machine lm3s6965evb \
            -nographic -semihosting-config enable=on,target=native -kernel "$elf" 2>/dev/null); then
            printf 'firmware-size: %s failed its checks under QEMU on %s:\n%s\n' "$bin" "$target" "$out" >&2
            exit 1
        fi
        text[$bin]=$(section "$elf" .text)
        rodata[$bin]=$(section "$elf" .rodata)
        bss[$bin]=$(section "$elf" .bss)
        stack[$bin]=$(sed -n 's/.*answers correct; stack \([0-9]*\).*/\1/p' <<<"$out")
        minrx[$bin]=$(sed -n 's/.*: min-rx \([0-9]*\).*/\1/p' <<<"$out")
        if [ -z "${stack[$bin]}" ] || [ -z "${minrx[$bin]}" ]; then
            printf 'firmware-size: %s printed no stack or min-rx figure:\n%s\n' "$bin" "$out" >&2
            exit 1
        fi
    done
    printf '\nws13 against embedded-websocket 0.9.5 on one firmware skeleton (qemu/size), %s:\n' "$target"
    printf '  %-12s %7s %8s %6s %6s %7s | %-8s %7s %8s %6s\n' \
        firmware .text .rodata .bss stack min-rx growth: .text .rodata stack
    for bin in skeleton ws13_server ews_server; do
        printf '  %-12s %7d %8d %6d %6d %7d |' "$bin" "${text[$bin]}" "${rodata[$bin]}" \
            "${bss[$bin]}" "${stack[$bin]}" "${minrx[$bin]}"
        [ "$bin" = skeleton ] && { echo; continue; }
        printf ' %-8s %+7d %+8d %+6d\n' "" "$((text[$bin] - text[skeleton]))" \
            "$((rodata[$bin] - rodata[skeleton]))" "$((stack[$bin] - stack[skeleton]))"
    done
    printf '  (stack: bytes the server path used, found by painting; min-rx: the smallest receive buffer\n'
    printf '   that still answers the Chromium requests, every larger size also working)\n'
    printf '  Attribution through the DWARF line table: inlined code counts for the crate whose source\n'
    printf '  it is (ews = embedded-websocket; application = src/bin/<firmware>.rs, skeleton = src/lib.rs):\n'
    python3 qemu/size/attribute.py . "$dir/skeleton" ws13="$dir/ws13_server" ews="$dir/ews_server"
    line="size $target:"
    for pair in ws13:ws13_server embedded-websocket:ews_server; do
        name=${pair%%:*} bin=${pair#*:}
        line+=$(printf ' %s %+d .text %+d .rodata %+d stack' "$name" \
            "$((text[$bin] - text[skeleton]))" "$((rodata[$bin] - rodata[skeleton]))" \
            "$((stack[$bin] - stack[skeleton]))")
        [ "$name" = ws13 ] && line+=";"
    done
    summary+=("$line")
done
echo
printf '%s\n' "${summary[@]}"
