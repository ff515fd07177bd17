#!/usr/bin/env bash
# Install the Autobahn|Testsuite (`wstest`) on Debian 12 (bookworm), as root.
#
# wstest (PyPI `autobahntestsuite`) runs only on Python 2.7, which bookworm no
# longer ships. This script:
#   1. adds Debian's bullseye suite as an extra apt source, pinned low
#      (priority 100) so nothing else gets upgraded or pulled from it,
#      and installs python2.7 + python2.7-dev from it;
#   2. bootstraps pip for Python 2.7 from pip's last py2-compatible wheels
#      (downloaded with Python 3's pip);
#   3. installs autobahntestsuite with Python 2.7's pip, which puts `wstest`
#      in /usr/local/bin.
#
# Idempotent: if `wstest` already works, it only reports where it is.
#
# Environment overrides:
#   DEBIAN_MIRROR       Debian archive URI to use for bullseye (default: the URI
#                       the existing apt sources use for bookworm)
#   AUTOBAHN_VERSION    autobahntestsuite version (default 25.10.1)
set -euo pipefail

AUTOBAHN_VERSION="${AUTOBAHN_VERSION:-25.10.1}"
PY2=/usr/bin/python2.7   # absolute: a `python2.7` shim (e.g. pyenv) may shadow it on PATH
SOURCES_FILE=/etc/apt/sources.list.d/debian-bullseye.sources
PIN_FILE=/etc/apt/preferences.d/debian-bullseye-pin

log() { printf '[install-autobahn] %s\n' "$*"; }
die() { printf '[install-autobahn] ERROR: %s\n' "$*" >&2; exit 1; }

wstest_works() {
    command -v wstest >/dev/null 2>&1 && wstest --help >/dev/null 2>&1
}

# --- stage 0: already installed? -------------------------------------------
if wstest_works; then
    log "wstest is already installed and working: $(command -v wstest)"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (installs apt packages)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found; this script targets Debian 12"

# Find the Debian archive URI the machine already uses for bookworm, from
# either one-line (*.list) or deb822 (*.sources) apt source files.
detect_mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [opts] URI SUITE COMPONENTS...
        awk '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i+1) == "bookworm") { print $i; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Stanzas separated by blank lines; want Types: deb, Suites containing
        # "bookworm", not Enabled: no; print the first URI.
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )bookworm( |$)/ && enabled != "no" && uri != "")
                    { print uri; found = 1 }
                types = ""; suites = ""; uri = ""; enabled = ""
            }
            /^[ \t]*$/ { flush(); if (found) exit; next }
            /^[ \t]*#/ { next }
            tolower($1) == "types:"   { $1 = ""; types = $0 }
            tolower($1) == "suites:"  { $1 = ""; suites = $0 }
            tolower($1) == "uris:"    { uri = $2 }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            END { if (!found) flush() }' "$f"
    done
}

# --- stage 1: python2.7 from bullseye --------------------------------------
if [ -n "${DEBIAN_MIRROR:-}" ]; then
    mirror="$DEBIAN_MIRROR"
else
    mirror="$(detect_mirror | head -n 1)"
fi
[ -n "$mirror" ] || die "could not find the Debian archive URI for bookworm in /etc/apt sources; set DEBIAN_MIRROR"
log "stage 1/4: adding bullseye apt source ($mirror, main) -> $SOURCES_FILE"
cat >"$SOURCES_FILE" <<EOF
Types: deb
URIs: $mirror
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
log "stage 1/4: pinning bullseye to priority 100 -> $PIN_FILE"
cat >"$PIN_FILE" <<'EOF'
# Only install from bullseye what is asked for explicitly (python2.7).
Package: *
Pin: release n=bullseye
Pin-Priority: 100
EOF

export DEBIAN_FRONTEND=noninteractive
log "stage 1/4: apt-get update"
apt-get update

# Build tools and the packages python2.7 depends on that bookworm also has come
# from bookworm (installed first, so `-t bullseye` below does not pull older copies).
base_pkgs=(ca-certificates gcc libc6-dev libexpat1-dev zlib1g-dev mailcap media-types)
# Python 3's pip, used only to download pip's Python 2 wheels.
PY3=python3
if ! python3 -m pip --version >/dev/null 2>&1; then
    base_pkgs+=(python3 python3-pip)
    PY3=/usr/bin/python3
fi
log "stage 1/4: apt-get install (bookworm) ${base_pkgs[*]}"
apt-get install -y --no-install-recommends "${base_pkgs[@]}"
log "stage 1/4: apt-get install -t bullseye python2.7 python2.7-dev"
apt-get install -y --no-install-recommends -t bullseye python2.7 python2.7-dev
[ -x "$PY2" ] || die "$PY2 missing after apt-get install"
log "stage 1/4: $("$PY2" --version 2>&1)"

# --- stage 2: pip for Python 2.7 --------------------------------------------
if "$PY2" -m pip --version >/dev/null 2>&1; then
    log "stage 2/4: pip for python2.7 already present: $("$PY2" -m pip --version)"
else
    wheeldir="$(mktemp -d /tmp/py2-wheels.XXXXXX)"
    trap 'rm -rf "$wheeldir"' EXIT
    log "stage 2/4: downloading py2 wheels (pip 20.3.4, setuptools 44.1.1, wheel 0.37.1) with python3's pip -> $wheeldir"
    "$PY3" -m pip download --no-deps --python-version 2.7 --only-binary=:all: \
        -d "$wheeldir" pip==20.3.4 setuptools==44.1.1 wheel==0.37.1
    log "stage 2/4: installing them with pip run from its own wheel"
    "$PY2" "$wheeldir/pip-20.3.4-py2.py3-none-any.whl/pip" install --no-index "$wheeldir"/*.whl
    log "stage 2/4: $("$PY2" -m pip --version)"
fi

# --- stage 3: autobahntestsuite ---------------------------------------------
log "stage 3/4: $PY2 -m pip install autobahntestsuite==$AUTOBAHN_VERSION (builds small C extensions; takes a few minutes)"
"$PY2" -m pip install "autobahntestsuite==$AUTOBAHN_VERSION"

# --- stage 4: verify ---------------------------------------------------------
hash -r
log "stage 4/4: verifying wstest"
if ! wstest_works; then
    if [ -x /usr/local/bin/wstest ]; then
        die "wstest installed at /usr/local/bin/wstest but it does not run or /usr/local/bin is not on PATH"
    fi
    die "wstest not found after install"
fi
log "wstest installed: $(command -v wstest)"
