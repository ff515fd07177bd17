#!/usr/bin/env bash
# Installs what the Cortex-M scripts need, only when it is missing:
# qemu-system-arm and arm-none-eabi binutils (apt), and the three thumb targets (rustup).
# Used by scripts/qemu-test.sh and scripts/firmware-size.sh; safe to run again.
set -euo pipefail

TARGETS=(thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf)

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=false
apt_install() {
    if ! $apt_updated; then
        sudo_if_needed apt-get update -qq
        apt_updated=true
    fi
    echo "qemu-setup: apt-get install $*"
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Note: qemu-system-arm replaces Debian's qemu-utils (qemu-img); nothing here needs it.
command -v qemu-system-arm >/dev/null || apt_install qemu-system-arm
command -v arm-none-eabi-size >/dev/null ||
    apt_install --no-install-recommends binutils-arm-none-eabi

installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
    if ! grep -qx "$t" <<<"$installed"; then
        echo "qemu-setup: rustup target add $t"
        rustup target add "$t"
    fi
done
echo "qemu-setup: $(qemu-system-arm --version | head -n1); $(arm-none-eabi-size --version | head -n1)"
