#!/usr/bin/env bash
# check_size.sh BUILD_DIR [LIMIT_BYTES] [-- MESON_SETUP_ARGS...]
#
# The footprint of libdbmgmt for a device that only migrates on boot (docs/footprint.md):
# strips a copy of BUILD_DIR's shared library, prints its size and fails above LIMIT_BYTES
# (default 256000: 250 KB of 1024 bytes). When BUILD_DIR holds no build yet, it is set up
# in that configuration first: SQLite only, minsize, no tools, examples or tests, and
# the optional modules left out; MESON_SETUP_ARGS are added (a cross build:
# --cross-file cross/aarch64-linux-gnu.ini). Then it is built, unless
# DBMGMT_FOOTPRINT_NO_BUILD=1 (the meson test of tests/footprint, which meson built).
# STRIP names the strip program (default strip); a cross build passes the target's
# (STRIP=aarch64-linux-gnu-strip).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 1 ] || { sed -n 2,12p "$0"; exit 2; }
build=$1
shift
limit=256000
if [ $# -ge 1 ] && [ "$1" != -- ]; then
    limit=$1
    shift
fi
[ $# -eq 0 ] || { [ "$1" = -- ] && shift; }

# -z max-page-size=4096: a device whose kernel has 4 KB pages. Without it, ld (binutils
# 2.40) pads an aarch64 library so that its RELRO ends on a 64 KB boundary: up to 64 KB
# of zeros in the file, 36 KB in this build (docs/footprint.md).
# shellcheck disable=SC2054 # the commas are -Wl's
firmware_options=(-Dpostgres=disabled -Dmysql=disabled -Dtools=false -Dexamples=false
    -Dtests=disabled --buildtype=minsize -Dc_link_args=-Wl,-z,max-page-size=4096
    -Dpool=false -Dbackup=false -Dadvise=false -Dhealth=false -Dsnapshot=false -Darchive=false)
if [ ! -f "$build/build.ninja" ]; then
    echo "=== setting up $build: ${firmware_options[*]} $*"
    meson setup "$build" "$top" "${firmware_options[@]}" "$@" >"$build.setup.log" 2>&1 ||
        { cat "$build.setup.log"; exit 1; }
fi
if [ "${DBMGMT_FOOTPRINT_NO_BUILD:-0}" != 1 ]; then
    ninja -C "$build" >/dev/null
fi

lib=$(find "$build" -maxdepth 1 -name 'libdbmgmt.so.*.*.*' -type f | head -n 1)
[ -n "$lib" ] || { echo "FAIL: no libdbmgmt.so.*.*.* in $build"; exit 1; }
strip_prog=${STRIP:-strip}
stripped=$(mktemp "${TMPDIR:-/tmp}/libdbmgmt-stripped.XXXXXX")
trap 'rm -f "$stripped"' EXIT
cp "$lib" "$stripped"
"$strip_prog" --strip-all "$stripped"
bytes=$(wc -c <"$stripped")
machine=$(od -An -tu2 -j18 -N2 "$stripped" | tr -d ' ')
case $machine in
    62) arch=x86-64 ;; 183) arch=aarch64 ;; 40) arch=arm ;; 3) arch=i386 ;;
    *) arch="e_machine $machine" ;;
esac
printf 'libdbmgmt footprint (%s, %s stripped): %d bytes = %d.%d KB; limit %d bytes\n' \
    "$arch" "$(basename "$lib")" "$bytes" $((bytes / 1024)) $((bytes % 1024 * 10 / 1024)) "$limit"
if [ "$bytes" -gt "$limit" ]; then
    echo "FAIL: $bytes bytes is above the limit of $limit (docs/footprint.md says what costs what)"
    exit 1
fi
