#!/usr/bin/env bash
# The SQLite-only (firmware) configuration cross-built for ARM, its unit and SQLite suites
# run under qemu-user through the cross file's exe_wrapper (issue 24, docs/cross.md).
#   scripts/cross.sh aarch64 [BUILD_DIR]   CI's step (scripts/suites.sh); deps.sh test
#   scripts/cross.sh armhf [BUILD_DIR]     by hand; scripts/deps.sh cross-armhf first
# Only the programs those two suites run are built, with the firmware example (its
# `dbmgmt embed` step runs the target's dbmgmt under qemu). With CI=true warnings are
# errors and sodium and zstd are required; a missing compiler, qemu or target library
# fails meson setup: nothing is skipped.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
arch=${1:?usage: cross.sh aarch64|armhf [BUILD_DIR]}
case "$arch" in
    aarch64) cross=aarch64-linux-gnu ;;
    armhf) cross=arm-linux-gnueabihf ;;
    *) echo "cross.sh: unknown target $arch (aarch64 or armhf)" >&2; exit 2 ;;
esac
dir=${2:-$top/build-test-$arch}
start=$SECONDS
echo "=== $arch cross build under qemu ($dir, cross/$cross.ini)"
rm -rf "$dir"
options=(-Dtests=enabled -Dpostgres=disabled -Dmysql=disabled)
[ "${CI:-}" = true ] && options+=(--werror -Dsodium=enabled -Dzstd=enabled)
meson setup "$dir" "$top" --cross-file "$top/cross/$cross.ini" "${options[@]}" \
    >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
targets=$(cd "$dir" && meson introspect --tests --targets |
    python3 "$top/scripts/suite_targets.py" sqlite unit)
# shellcheck disable=SC2086 # one target a word
ninja -C "$dir" $targets examples/firmware_bundle/firmware_bundle
built=$SECONDS
# Timeouts are hang guards (scripts/suites.sh multiplies them by 3 for a busy 2-core
# machine); emulation is about twice as slow again.
meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 \
    --timeout-multiplier 6 --suite sqlite --suite unit
echo "=== $arch cross step: $((SECONDS - start)) s ($((built - start)) s setup and build," \
     "$((SECONDS - built)) s tests)"
